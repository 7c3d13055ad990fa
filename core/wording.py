"""Durations in the words a person reads: one spelling everywhere (pages, errors, the doctor),
in the active language (English unless a public page activated its party's)."""

from __future__ import annotations

import math

from django.utils.translation import ngettext


def wait_text(seconds: float) -> str:
    """`42 seconds`, `15 minutes`, `2 hours`, `3 days`: rounded up, so that trying again after
    the time said works."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    if seconds < 2 * 60 * 60:
        minutes = math.ceil(seconds / 60)
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    if seconds < 2 * 24 * 60 * 60:
        hours = math.ceil(seconds / 3600)
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    days = math.ceil(seconds / 86400)
    return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}
