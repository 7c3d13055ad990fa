"""What a sending run reports, and what a failure means for the account's events: when to
come back, or why they wait for a person."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from core.backoff import backoff_delay
from integrations.fields import SecretDecryptionError
from integrations.klaviyo.errors import KlaviyoAuthError, KlaviyoRateLimited, KlaviyoUnavailable
from parties.events.config import events_config
from parties.events.gates import EVENTS_GATE
from parties.models import EventSender

# The run-ending signal both engines share.
from parties.sync.outcomes import Stop

logger = logging.getLogger(__name__)


@dataclass
class EventsReport:
    sent: int = 0
    delivered: int = 0
    not_recorded: int = 0
    rejected: int = 0
    # Write calls made (bulk or single), and read calls made reading events back.
    write_calls: int = 0
    read_calls: int = 0
    outcome: str = "done"
    # When the account needs its next run (None: nothing left to do).
    next_run_at: datetime | None = None

    def run_again_at(self, moment: datetime) -> None:
        if self.next_run_at is None or moment < self.next_run_at:
            self.next_run_at = moment


def stop_for(connection_id: int, error: Exception) -> Stop:
    """What one of the run-ending failures (`parties.sync.outcomes.KLAVIYO_STOPS`) means for
    the account's events, and when to come back."""
    if isinstance(error, KlaviyoRateLimited):
        return Stop("rate_limited", EVENTS_GATE.close_for(connection_id, max(error.retry_after, 1)))
    if isinstance(error, KlaviyoUnavailable | KlaviyoAuthError):
        failures = EventSender.objects.get(pk=connection_id).failures + 1
        delay = backoff_delay(failures - 1, first=5, cap=events_config().max_backoff_seconds)
        retry_at = timezone.now() + timedelta(seconds=delay)
        EventSender.objects.filter(pk=connection_id).update(
            failures=failures, next_send_at=retry_at
        )
        logger.warning("Klaviyo unavailable for the events of connection %s", connection_id)
        return Stop("unavailable", retry_at)
    if isinstance(error, SecretDecryptionError):
        logger.error("Cannot read the tokens of connection %s", connection_id)
        pause(connection_id, "The server cannot read its Klaviyo tokens: the operator must fix it.")
        return Stop("paused", None)
    pause(connection_id, "The Klaviyo connection needs reconnecting.")
    return Stop("paused", None)


def pause(connection_id: int, why: str) -> None:
    EventSender.objects.filter(pk=connection_id).update(paused_reason=why[:255])
