"""What a run reports, and what a failure means for the party: when to come back, or why it
waits for a person."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from core.backoff import backoff_delay
from integrations.errors import ConnectionUnusable
from integrations.fields import SecretDecryptionError
from integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoError,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
)
from parties.models import Party
from parties.sync.config import sync_config
from parties.sync.gates import SEND_GATE

logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    sent: int = 0
    confirmed: int = 0
    failed: int = 0
    batches: int = 0
    outcome: str = "done"
    # When the party needs its next run (None: nothing left to do).
    next_run_at: datetime | None = None
    # What went wrong reading back from Klaviyo this run, in the organizer's words ("": nothing).
    read_back_problem: str = ""
    # No read-back before this (Klaviyo could not answer one this run); sends are not held.
    read_back_retry_at: datetime | None = None

    def run_again_at(self, moment: datetime) -> None:
        if self.next_run_at is None or moment < self.next_run_at:
            self.next_run_at = moment


class Stop(Exception):
    """Klaviyo cannot take more now: stop this run, come back at `retry_at` (or never)."""

    def __init__(self, outcome: str, retry_at: datetime | None) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.retry_at = retry_at


# Failures that end a run: Klaviyo is busy or down, or the connection cannot be used.
KLAVIYO_STOPS = (
    KlaviyoRateLimited,
    KlaviyoUnavailable,
    KlaviyoAuthError,
    ConnectionUnusable,
    SecretDecryptionError,
)


def backoff_seconds(failures: int) -> float:
    """The wait after Klaviyo failed to answer `failures` times in a row: 5 s, doubling, at
    most `max_backoff_seconds` (the party pages also date an outage back from it)."""
    return backoff_delay(failures - 1, first=5, cap=sync_config().max_backoff_seconds)


def stop_for(party: Party, error: Exception) -> Stop:
    """Record what one of KLAVIYO_STOPS means for the party, and when to come back."""
    if isinstance(error, KlaviyoRateLimited):
        retry_at = SEND_GATE.close_for(party.pk, max(error.retry_after, 1.0))
        return Stop("rate_limited", retry_at)
    if isinstance(error, KlaviyoUnavailable | KlaviyoAuthError):
        failures = Party.objects.get(pk=party.pk).sync_failures + 1
        retry_at = later(backoff_seconds(failures))
        Party.objects.filter(pk=party.pk).update(sync_failures=failures, next_send_at=retry_at)
        logger.warning("Klaviyo unavailable for party %s: %s", party.pk, reason(error))
        return Stop("unavailable", retry_at)
    if isinstance(error, SecretDecryptionError):
        logger.error("Cannot read the tokens of connection %s", party.connection_id)
        pause(party, "The server cannot read its Klaviyo tokens; the operator must fix its keys.")
        return Stop("paused", None)
    pause(party, "The Klaviyo connection needs reconnecting.")
    return Stop("paused", None)


def pause(party: Party, why: str) -> None:
    Party.objects.filter(pk=party.pk).update(sync_paused_reason=why[:255])


def later(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


def reason(error: Exception) -> str:
    if isinstance(error, KlaviyoError):
        return (error.detail or str(error))[:500]
    return str(error)[:500]
