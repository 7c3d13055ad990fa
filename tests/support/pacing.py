"""One clock for the product's rate-limit budget and the sandbox's, for tests with workers.

The sandbox's clock is frozen; the product's budget reads it too, and the product's waits
advance it, so Klaviyo's windows pass in no time. With several threads one more rule keeps
the two sides in step: time never moves while a call is on its way. A call holds the clock
from the moment the budget counts it until the sandbox has answered it, so a peer's wait
cannot carry it into a later window than the one it was counted in (a real clock never
jumps ahead under a call in flight).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from integrations.budgets import DatabaseRateBudget
from klaviyo_sandbox import clock, testing

# A call that never reached the sandbox would hold the clock for good: fail instead.
HOLD_TIMEOUT = 30


class LockstepClock:
    """The product's `RateBudget` and `sleep`, on the sandbox's clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calling = threading.local()
        self._budget = DatabaseRateBudget(clock=self.now)
        self.waits: list[float] = []

    def now(self) -> float:
        return clock.now().timestamp()

    def acquire(self, operation: str, account_id: str) -> float:
        if not self._lock.acquire(timeout=HOLD_TIMEOUT):
            raise AssertionError("A call counted by the budget never reached the sandbox.")
        try:
            wait = self._budget.acquire(operation, account_id)
        except BaseException:
            self._lock.release()
            raise
        if wait:
            self._lock.release()
        else:
            self._calling.held = True  # until the sandbox has answered
        return wait

    def sleep(self, seconds: float) -> None:
        """The product's wait for its budget: time moves on, once no call is in flight."""
        with self._lock:
            self.waits.append(seconds)
            testing.advance(seconds)

    def hold_during_calls(self, mock: Any) -> None:
        """Release the clock when the sandbox has answered a counted call (`mock`: the
        `responses` mock that routes requests to the sandbox)."""
        for route in mock.registered():
            route.callback = self._releasing(route.callback)

    def _releasing(self, forward: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def callback(request: Any) -> Any:
            try:
                return forward(request)
            finally:
                if getattr(self._calling, "held", False):
                    self._calling.held = False
                    self._lock.release()

        return callback
