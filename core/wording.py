"""Durations in the words a person reads: one spelling everywhere (pages, errors, the doctor)."""

from __future__ import annotations

import math


def wait_text(seconds: float) -> str:
    """`42 seconds`, `15 minutes`, `2 hours`, `3 days`: rounded up, so that trying again after
    the time said works."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 2 * 60 * 60:
        minutes = math.ceil(seconds / 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if seconds < 2 * 24 * 60 * 60:
        return f"{math.ceil(seconds / 3600)} hours"
    return f"{math.ceil(seconds / 86400)} days"
