"""The periodic personal-data pass: retention limits applied, erasures finished."""

from __future__ import annotations

import logging

from django_tasks import task

from core.periodic import schedule_next_pass
from privacy import services

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
            "retention_erased": services.retention_apply(),
            "erasures_finished": services.erasures_finish(),
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
