"""The needs-reconnect banner every organizer page shows: `{% reconnect_banner %}`."""

from __future__ import annotations

from typing import Any

from django import template
from django.db import DatabaseError

from accounts.tenancy import acts_for_organization
from integrations import selectors

register = template.Library()

SETTINGS_VIEW = "integrations:settings"


@register.inclusion_tag("integrations/_reconnect_banner.html", takes_context=True)
def reconnect_banner(context: template.Context) -> dict[str, Any]:
    """The banner every organizer page (but Integrations itself) shows while a connection of
    the request's organization needs reconnecting (one small query; none for visitors)."""
    request = context.get("request")
    if request is None or not acts_for_organization(request) or not request.user.is_authenticated:
        return {"connections": []}
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name == SETTINGS_VIEW:
        return {"connections": []}  # the page the banner leads to says it row by row
    try:
        connections = selectors.connections_needing_reconnect(organization=request.organization)
    except DatabaseError:
        # An error page may render while the database is failing: it must still render.
        return {"connections": []}
    return {"connections": connections, "can_manage": request.membership.can_manage}
