"""The one backoff: how long to wait before the next try after failures in a row."""

from __future__ import annotations

import random


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
