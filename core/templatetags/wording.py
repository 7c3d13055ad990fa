"""Small wording filters every page may use: `{% load wording %}`."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format

register = template.Library()


@register.filter
def possessive(name: object) -> str:
    """A name made possessive: "Acme" -> "Acme's", "Parties" -> "Parties'".

    Like style guides for plural names, a name ending in "s" takes the apostrophe alone. The
    result is escaped like any other value (never marked safe).
    """
    text = str(name).strip() if name is not None else ""
    if not text:
        return ""
    return f"{text}'" if text[-1] in "sS" else f"{text}'s"


@register.filter
def clock(moment: datetime | None) -> str:
    """A moment in the current time zone: "14:05" today, "Tue 26 Nov, 14:05" another day."""
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    if local.date() == timezone.localdate():
        return date_format(local, "H:i")
    return date_format(local, "D j M, H:i")


@register.filter
def sentence(text: str) -> str:
    """A reason ending with a full stop, whether or not it came with one."""
    text = (text or "").strip()
    if not text or text.endswith((".", "!", "?")):
        return text
    return f"{text}."
