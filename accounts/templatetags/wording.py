"""Small wording filters: `{% load wording %}`."""

from __future__ import annotations

from django import template

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
