"""The organizer pages' health words: the needs-reconnect banner and times as "14:05"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.db import DatabaseError
from django.utils import timezone
from django.utils.formats import date_format

from integrations import selectors

register = template.Library()

SETTINGS_VIEW = "integrations:settings"


@register.inclusion_tag("integrations/_reconnect_banner.html", takes_context=True)
def reconnect_banner(context: template.Context) -> dict[str, Any]:
    """The banner every organizer page (but Integrations itself) shows while a connection of
    the request's organization needs reconnecting (one small query; none for visitors)."""
    request = context.get("request")
    organization = getattr(request, "organization", None)
    if organization is None or not request.user.is_authenticated:
        return {"connections": []}
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name == SETTINGS_VIEW:
        return {"connections": []}  # the page the banner leads to says it row by row
    try:
        connections = selectors.connections_needing_reconnect(organization=organization)
    except DatabaseError:
        # An error page may render while the database is failing: it must still render.
        return {"connections": []}
    return {"connections": connections, "can_manage": request.membership.can_manage}


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
