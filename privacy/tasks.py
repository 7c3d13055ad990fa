"""The periodic personal-data pass: retention limits applied, erasures finished."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from core.periodic import schedule_next_pass
from privacy import deletions, erasure

logger = logging.getLogger(__name__)

# Every ten minutes: an erased person's address goes soon after Klaviyo shows them out of
# the list, and a retention limit is met within the hour it falls due.
PASS_EVERY_SECONDS = 600


@task()
def privacy_sweep(*, reschedule: bool = True) -> dict[str, int]:
    """Apply retention limits and finish erasures; the next pass is queued however this one
    ends (an exception here must not end the schedule)."""
    try:
        report = {
            "retention_erased": erasure.retention_apply(),
            "erasures_finished": erasure.erasures_finish(),
        }
        if any(report.values()):
            # Counts only: never whose data.
            logger.info(
                "Personal-data pass: %(retention_erased)d erased by retention limits, "
                "%(erasures_finished)d erasures finished",
                report,
            )
        return report
    finally:
        if reschedule:
            schedule_privacy_sweep(delay=PASS_EVERY_SECONDS)


def schedule_privacy_sweep(*, delay: float = 0) -> bool:
    """Queue the next pass unless one is already waiting (one chain, not many)."""
    return schedule_next_pass(privacy_sweep, delay=delay)


@task()
def klaviyo_deletion_send(*, deletion_id: int) -> None:
    """Ask one Klaviyo account to delete an erased person's profile; again later while
    Klaviyo cannot answer (the address stays encrypted in its row, never in this task)."""
    retry_in = deletions.klaviyo_deletion_send(deletion_id=deletion_id)
    if retry_in is not None:
        klaviyo_deletion_send.using(run_after=timezone.now() + timedelta(seconds=retry_in)).enqueue(
            deletion_id=deletion_id
        )
