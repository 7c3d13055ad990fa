"""core.backoff and core.wording: one backoff, one way to say a duration."""

from __future__ import annotations

import pytest

from core.backoff import backoff_delay
from core.wording import wait_text


def test_the_backoff_doubles_from_its_first_wait_up_to_its_cap():
    delays = [backoff_delay(attempt, first=5, cap=300) for attempt in range(8)]
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300]


def test_jitter_keeps_between_half_and_all_of_the_wait():
    delays = [backoff_delay(3, first=0.5, cap=30, jitter=True) for _ in range(200)]
    assert all(2.0 <= delay <= 4.0 for delay in delays)
    assert len(set(delays)) > 1  # not in lockstep


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (42, "42 seconds"),
        (59.2, "1 minute"),
        (61, "2 minutes"),
        (90 * 60, "90 minutes"),
        (3 * 3600, "3 hours"),
        (3 * 86400, "3 days"),
    ],
)
def test_a_duration_is_said_rounded_up(seconds, words):
    assert wait_text(seconds) == words
