"""Klaviyo's per-account fixed-window rate limits, counted in the sandbox database.

Counters live in `RateCounter` rows, not process memory, so every web process and worker
sharing one sandbox shares one quota, as they share one Klaviyo account. Each check is one
short transaction: lock (or create) the window rows, refuse if any is full, else count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F

from klaviyo_sandbox.models import RateCounter
from klaviyo_sandbox.routers import DATABASE

_UNITS = {"s": 1, "m": 60, "d": 86_400}


@dataclass(frozen=True)
class Limit:
    count: int
    window: int  # seconds: 1 (burst), 60 (steady) or 86,400 (daily)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # seconds until the fullest window reopens (0 when allowed)
    # The steady (per-minute) window, reported in RateLimit-* headers.
    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        if not self.allowed:
            return {"Retry-After": str(self.retry_after)}
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


def parse_limits(spec: dict[str, str]) -> list[Limit]:
    """`{"burst": "10/s", "steady": "150/m", "daily": "150/d"}` -> three limits."""
    limits = []
    for value in spec.values():
        count, unit = value.split("/")
        limits.append(Limit(count=int(count), window=_UNITS[unit]))
    return sorted(limits, key=lambda limit: limit.window)


def hit(key: str, limits: list[Limit], at: datetime) -> Decision:
    """Count one request against every window of `key`, or refuse it without counting."""
    epoch = at.timestamp()
    with transaction.atomic(using=DATABASE):
        rows: list[tuple[Limit, RateCounter]] = []
        for limit in limits:
            start = int(epoch // limit.window)
            row, created = (
                RateCounter.objects.using(DATABASE)
                .select_for_update()
                .get_or_create(key=key, window=limit.window, start=start)
            )
            if created:
                # Windows that have closed will never be read again.
                RateCounter.objects.using(DATABASE).filter(
                    key=key, window=limit.window, start__lt=start
                ).delete()
            rows.append((limit, row))

        def seconds_left(limit: Limit, row: RateCounter) -> int:
            return max(1, math.ceil((row.start + 1) * limit.window - epoch))

        full = [(limit, row) for limit, row in rows if row.count >= limit.count]
        steady_limit, steady_row = next(
            ((limit, row) for limit, row in rows if limit.window == 60), rows[-1]
        )
        if full:
            retry_after = max(seconds_left(limit, row) for limit, row in full)
            return Decision(False, retry_after, steady_limit.count, 0, retry_after)
        for _, row in rows:
            RateCounter.objects.using(DATABASE).filter(pk=row.pk).update(count=F("count") + 1)
    return Decision(
        allowed=True,
        retry_after=0,
        limit=steady_limit.count,
        remaining=max(0, steady_limit.count - steady_row.count - 1),
        reset=seconds_left(steady_limit, steady_row),
    )
