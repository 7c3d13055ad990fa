"""The pacing store: Klaviyo's rate limits, counted per Klaviyo account in the database.

Klaviyo counts each operation's calls per account in fixed windows of a second, a minute
and (for creating lists) a day, and refuses the rest with 429. The client asks `acquire`
before each request (`integrations.klaviyo.ratelimits.RateBudget`): when every window of the
operation has room the call is counted and goes out at once; otherwise nothing is counted
and the client learns how long until the fullest window opens, then waits (a short wait) or
raises `KlaviyoRateLimited` so the work is rescheduled (a long one).

The counts are `RateWindow` rows, so every thread, worker and web process calling one
Klaviyo account (for any party, any organization) shares one budget, on SQLite and
PostgreSQL alike. One count is one short transaction: make sure the window rows exist, then
one conditional UPDATE per window (`count < allowed`); if any window is full the transaction
rolls back, so a refused call costs nothing and no window ever admits more than it allows.
No transaction is held while the call itself is made.

Klaviyo counts a call when it arrives, a moment after we count it: a call counted in the
last `IN_FLIGHT_SECONDS` of a window is also counted in the next one, which it may land in.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import F, Q, QuerySet

from integrations.klaviyo.ratelimits import DAY, RATE_LIMITS, RateLimit
from integrations.models import KlaviyoConnection, RateWindow

# How long after we count a call Klaviyo may count it (its trip there).
IN_FLIGHT_SECONDS = 0.5


class _Full(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


class DatabaseRateBudget:
    """Klaviyo's per-account budgets in fixed windows aligned on the epoch (a day is a UTC
    day). `clock` gives the time in seconds since the epoch (tests pass their own)."""

    def __init__(
        self,
        *,
        limits: Mapping[str, RateLimit] = RATE_LIMITS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limits = limits
        self._clock = clock

    def acquire(self, operation: str, account_id: str) -> float:
        """Count one call and return 0, or count nothing and return the seconds to wait."""
        limit = self._limits.get(operation)
        if limit is None:
            return 0.0  # not in the table: only Klaviyo's 429 paces it
        now = self._clock()
        windows = [
            (seconds, start, allowed)
            for seconds, allowed in limit.windows
            for start in _starts(now, seconds)
        ]
        mine = RateWindow.objects.filter(account_id=account_id, operation=operation)
        closed = Q()
        for seconds, _allowed in limit.windows:
            closed |= Q(seconds=seconds, start__lt=_start(now, seconds))
        try:
            with transaction.atomic():
                mine.filter(closed).delete()  # closed windows are never read again
                RateWindow.objects.bulk_create(
                    [
                        RateWindow(
                            account_id=account_id, operation=operation, seconds=seconds, start=start
                        )
                        for seconds, start, _ in windows
                    ],
                    ignore_conflicts=True,
                )
                waits = [
                    start + seconds - now
                    for seconds, start, allowed in windows
                    if not mine.filter(seconds=seconds, start=start, count__lt=allowed).update(
                        count=F("count") + 1
                    )
                ]
                if waits:
                    raise _Full(max(waits))  # rolls the counts of the other windows back
        except _Full as full:
            return full.wait
        return 0.0

    def open_windows(self, operation: str, seconds: int) -> QuerySet[RateWindow]:
        """The counts of `operation` in the window of `seconds` open now, one row per account
        that made a call in it."""
        return RateWindow.objects.filter(
            operation=operation, seconds=seconds, start=_start(self._clock(), seconds)
        )

    def daily_window_reopens_at(self, operation: str, account_id: str) -> datetime | None:
        """When the account may call `operation` again if today's budget for it is spent
        (the next UTC midnight); None while it has room, or has no daily budget."""
        limit = self._limits.get(operation)
        if limit is None or limit.daily is None:
            return None
        start = _start(self._clock(), DAY)
        used = (
            RateWindow.objects.filter(
                account_id=account_id, operation=operation, seconds=DAY, start=start
            )
            .values_list("count", flat=True)
            .first()
        )
        if (used or 0) < limit.daily:
            return None
        return datetime.fromtimestamp(start + DAY, tz=UTC)


# --- The daily budget of new lists -------------------------------------------------------------


def list_budget_reopens_at(*, connection: KlaviyoConnection) -> datetime | None:
    """If today's new lists are all used in the connection's Klaviyo account (every
    connection to that account shares them), when the next day's budget opens; else None."""
    return DatabaseRateBudget().daily_window_reopens_at(
        "create_list", connection.klaviyo_account_id
    )


def list_budget_message(*, reopens_at: datetime) -> str:
    """What an organizer reads when a party's list must wait for the next day's budget."""
    return (
        f"Klaviyo allows {RATE_LIMITS['create_list'].daily} new lists a day for this account; "
        "today's are used, so this party's list will be created tomorrow "
        f"(after {reopens_at.astimezone(UTC):%H:%M} UTC)"
    )


def _start(moment: float, seconds: int) -> int:
    return math.floor(moment / seconds) * seconds


def _starts(now: float, seconds: int) -> list[int]:
    """The windows a call counted now may land in at Klaviyo."""
    return sorted({_start(now, seconds), _start(now + IN_FLIGHT_SECONDS, seconds)})
