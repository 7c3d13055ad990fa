"""The sync engine's settings and fixed numbers, as one frozen value read from settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings


@dataclass(frozen=True)
class SyncConfig:
    # The coalescing window: at most one call of each kind (import, subscribe, consent-only
    # subscribe, list removal) per party within it while a rush lasts
    # (PARTY_SYNC_WINDOW_SECONDS).
    window: timedelta
    # A run holds its party's lease this long, renewed by a heartbeat every third of it, so a
    # killed worker's lease runs out within one lease (PARTY_SYNC_LEASE_SECONDS).
    lease: timedelta
    # How soon after sending Klaviyo's jobs and the list are read back.
    verify_interval: timedelta
    # How often attendees awaiting a double opt-in confirmation are read again.
    confirmation_interval: timedelta
    # Work older than this with no sync planned (its task was lost) is enqueued by the sweep.
    pending_grace: timedelta = timedelta(minutes=2)
    # The longest backoff after Klaviyo failed to answer sends.
    max_backoff_seconds: int = 300
    # A list create or rename Klaviyo could not answer is tried again after this.
    list_retry_seconds: int = 60
    # Import jobs polled per run (each is one status call).
    max_job_polls: int = 10
    # Attendees read per query by the loops that call Klaviyo between reads.
    read_page: int = 1000
    # A sent attendee Klaviyo still does not show after this is sent again, at most
    # `max_attempts` times in all, then reported.
    sent_give_up: timedelta = timedelta(minutes=10)
    max_attempts: int = 3
    # A read-back Klaviyo could not answer (down, or its read budget spent) waits this long;
    # sending carries on meanwhile.
    read_back_retry_seconds: int = 30
    # Double opt-in: how long we keep looking for the person's confirmation.
    confirmation_wait: timedelta = timedelta(days=7)
    # A create whose answer was lost, found by name: lists created this much before the
    # attempt still count (clocks differ).
    clock_skew: timedelta = timedelta(minutes=2)


def sync_config() -> SyncConfig:
    """Read at each use, so a settings change (or a test's override) applies at once."""
    return SyncConfig(
        window=timedelta(seconds=settings.PARTY_SYNC_WINDOW_SECONDS),
        lease=timedelta(seconds=settings.PARTY_SYNC_LEASE_SECONDS),
        verify_interval=timedelta(seconds=settings.PARTY_VERIFY_INTERVAL_SECONDS),
        confirmation_interval=timedelta(seconds=settings.PARTY_CONFIRMATION_CHECK_SECONDS),
    )
