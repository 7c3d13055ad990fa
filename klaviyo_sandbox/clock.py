"""The sandbox's one source of time, so tests can freeze and advance it without sleeping.

Everything time-dependent (code and token expiry, rate-limit windows, fault durations) reads
`now()`; latency injection calls `sleep()`. `klaviyo_sandbox.testing` moves the clock. The
override lives in this process only, which is all tests need: production never sets it.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

_frozen_at: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    return (_frozen_at or timezone.now()) + _offset


def sleep(seconds: float) -> None:
    if _frozen_at is not None:
        # A frozen clock means a test: advance it instead of waiting.
        advance(seconds)
    else:
        time.sleep(seconds)


def freeze(at: datetime | None = None) -> None:
    global _frozen_at, _offset
    _frozen_at = at or timezone.now()
    _offset = timedelta(0)


def advance(seconds: float) -> None:
    global _offset
    _offset += timedelta(seconds=seconds)


def reset() -> None:
    global _frozen_at, _offset
    _frozen_at = None
    _offset = timedelta(0)


def job_ready_at(created_at: datetime) -> datetime:
    """When a bulk job accepted at `created_at` is applied: SANDBOX_JOB_SECONDS later."""
    # Read at call time, so a test can change the setting.
    return created_at + timedelta(seconds=settings.SANDBOX_JOB_SECONDS)
