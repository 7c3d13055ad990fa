"""Waiting for something another thread or process does: poll until it is true, or fail after
a deadline naming what never happened (never a fixed sleep that is too short on a busy
machine and too long on an idle one)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

POLL_SECONDS = 0.05


def wait_until(
    condition: Callable[[], T],
    *,
    seconds: float,
    awaiting: str,
    details: Callable[[], str] | None = None,
) -> T:
    """`condition()`'s first true value, polled every 50 ms; after `seconds` the test fails
    saying it was `awaiting` that (and `details()`, such as a process's log, when given)."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            explanation = f"\n{details()}" if details else ""
            pytest.fail(f"Waited {seconds:g} s for {awaiting}, in vain.{explanation}")
        time.sleep(POLL_SECONDS)
    return value
