"""The one backoff: how long to wait before the next try after failures in a row, and before
the next look at work a service finishes later."""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def backoff_delay(attempt: int, *, first: float, cap: float, jitter: bool = False) -> float:
    """The wait before try `attempt + 1` after `attempt` failures in a row (0: the first
    retry waits `first`): doubling each time, never over `cap`.

    With `jitter`, between half and all of that (half fixed, half random), so callers that
    failed together (workers meeting one outage) do not retry in lockstep.
    """
    delay = min(cap, first * 2 ** max(attempt, 0))
    if not jitter:
        return delay
    # Jitter needs no cryptographic randomness.
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311


def next_look_at(done_at: datetime, looked_at: datetime | None, *, interval: timedelta) -> datetime:
    """When to look again whether work done at `done_at` (sent to a service that finishes it
    later) has come through, last looked at `looked_at`: one `interval` after it was done,
    then at doubling intervals, so something slow costs a few looks, not one every interval."""
    if looked_at is None:
        return done_at + interval
    return looked_at + max(interval, looked_at - done_at)
