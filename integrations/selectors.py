"""Reads for the integrations pages."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Organization
from integrations.klaviyo.config import klaviyo_config
from integrations.models import ConnectionStatus, KlaviyoConnection

# What each scope lets Partyline do, in words for the people granting it.
SCOPE_DESCRIPTIONS = {
    "accounts:read": "Read your Klaviyo account's name and public id",
    "lists:read": "See your lists and who is on them",
    "lists:write": "Create, rename and delete lists for your parties",
    "profiles:read": "Look up profiles, to check attendees against Klaviyo",
    "profiles:write": "Create and update attendee profiles (name, pet name, pet type)",
    "subscriptions:write": "Subscribe attendees who gave consent to email marketing",
}


def describe_scopes(scopes: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    return [(scope, SCOPE_DESCRIPTIONS.get(scope, scope)) for scope in scopes]


def requested_scopes() -> list[tuple[str, str]]:
    return describe_scopes(klaviyo_config().scopes)


def connections_for(*, organization: Organization) -> QuerySet[KlaviyoConnection]:
    """The organization's connections, live ones first."""
    return (
        KlaviyoConnection.objects.filter(organization=organization)
        .select_related("connected_by")
        .order_by("status", "klaviyo_organization_name", "pk")
    )


def active_connections_for(*, organization: Organization) -> QuerySet[KlaviyoConnection]:
    return connections_for(organization=organization).filter(status=ConnectionStatus.ACTIVE)
