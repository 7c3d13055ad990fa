"""The events engine's settings and fixed numbers, as one frozen value read from settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

from integrations.klaviyo.bodies import MAX_BULK_EVENTS


@dataclass(frozen=True)
class EventsConfig:
    # The coalescing window: at most one event write call per Klaviyo account within it
    # while a rush lasts (EVENTS_SEND_WINDOW_SECONDS).
    window: timedelta
    # A run holds its account's lease this long, renewed by a heartbeat (the attendee sync's
    # PARTY_SYNC_LEASE_SECONDS: the same workers, the same failure detection).
    lease: timedelta
    # How soon after sending an event it is first read back (Klaviyo records it later).
    verify_interval: timedelta
    # Events per write call (Klaviyo's bulk create takes at most 1,000).
    batch: int = MAX_BULK_EVENTS
    # Accepted but still not recorded after this: Klaviyo dropped it.
    give_up: timedelta = timedelta(minutes=10)
    # The longest backoff after Klaviyo failed to answer sends.
    max_backoff_seconds: int = 300
    # A read-back Klaviyo could not answer waits this long; sending carries on meanwhile.
    read_back_retry_seconds: int = 30
    # Work older than this with no run planned (its task was lost) is enqueued by the sweep.
    pending_grace: timedelta = timedelta(minutes=2)


def events_config() -> EventsConfig:
    """Read at each use, so a settings change (or a test's override) applies at once."""
    return EventsConfig(
        window=timedelta(seconds=settings.EVENTS_SEND_WINDOW_SECONDS),
        lease=timedelta(seconds=settings.PARTY_SYNC_LEASE_SECONDS),
        verify_interval=timedelta(seconds=settings.PARTY_VERIFY_INTERVAL_SECONDS),
    )
