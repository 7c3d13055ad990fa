"""The door's background work: each check-in's event once the grace period has passed, and
the periodic pass that announces those whose task was lost.

Dependencies point one way: services -> tasks -> announce.
"""

from __future__ import annotations

import logging

from django_tasks import task

from core.periodic import schedule_next_pass
from door.announce import checkin_announce, grace_period, unannounced_due
from door.models import CheckIn
from parties.tasks import events_send_request

logger = logging.getLogger(__name__)

# How often the safety net looks: an event whose task was lost goes out within this.
PASS_EVERY_SECONDS = 300


@task()
def announce_check_in(*, check_in_id: int) -> dict[str, object]:
    """The grace period of a check-in has passed: its event, if it still stands."""
    announced = checkin_announce(check_in_id)
    if announced.retry_at is not None:
        # Early (a clock ahead of the database's): come back at its time.
        announce_check_in.using(run_after=announced.retry_at).enqueue(check_in_id=check_in_id)
    if announced.connection_id is not None:
        events_send_request(connection_id=announced.connection_id)
    return {"written": announced.written}


@task()
def door_sweep(*, reschedule: bool = True) -> dict[str, int]:
    """Announce every check-in whose own task was lost; the next pass is queued however this
    one ends (an exception here must not end the schedule)."""
    try:
        written = 0
        for check_in_id in unannounced_due():
            announced = checkin_announce(check_in_id)
            if announced.connection_id is not None:
                written += 1
                events_send_request(connection_id=announced.connection_id)
        if written:
            logger.info("Door pass: %d check-in event(s) whose task was lost written", written)
        return {"written": written}
    finally:
        if reschedule:
            schedule_door_sweep(delay=PASS_EVERY_SECONDS)


def schedule_door_sweep(*, delay: float = 0) -> bool:
    """Queue the next pass unless one is already waiting (one chain, not many)."""
    return schedule_next_pass(door_sweep, delay=delay)


def announce_schedule(check_in: CheckIn) -> None:
    """Plan the check-in's event for the end of its grace period (in the caller's
    transaction: the task exists exactly when the check-in does)."""
    announce_check_in.using(run_after=check_in.checked_in_at + grace_period()).enqueue(
        check_in_id=check_in.pk
    )
