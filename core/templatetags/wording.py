"""Small wording filters every page may use: `{% load wording %}`."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import pgettext

register = template.Library()


@register.filter
def possessive(name: object) -> str:
    """A name made possessive: "Acme" -> "Acme's", "Parties" -> "Parties'".

    Like style guides for plural names, a name ending in "s" takes the apostrophe alone. The
    result is escaped like any other value (never marked safe). In the active language: a
    translation says how it names an owner (German: "von Acme", which its sentences place
    after what is owned), since a sentence translated with it must use every value the
    English one does.
    """
    text = str(name).strip() if name is not None else ""
    if not text:
        return ""
    if text[-1] in "sS":
        # Translators: the owner of what follows, for a name ending in "s" ("Parties' emails").
        return pgettext("possessive of a name ending in s", "%(name)s'") % {"name": text}
    # Translators: the owner of what follows ("Acme's emails").
    return pgettext("possessive of a name", "%(name)s's") % {"name": text}


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
