"""The scope policy: what a connection can do with the scopes Klaviyo granted it.

Partyline asks every organization for two groups of scopes (`integrations.klaviyo.config`).
Without a list scope a connection cannot work at all: it is saved needs-reconnect, and every
party using it pauses. Without an event scope only lifecycle events wait: the connection stays
active and its list sync carries on. Connections made before Partyline sent events are in that
case until someone reconnects them.

A third group, `data-privacy:write`, is asked only of organizations that let erasing a person
also ask Klaviyo to delete their profile (`Organization.klaviyo_deletion_enabled`), since it
deletes from the whole Klaviyo account. A connection lacking it works fully; only that request
waits until someone reconnects it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from accounts.models import Organization
from integrations.klaviyo.config import DATA_PRIVACY_SCOPES, EVENT_SCOPES, KlaviyoConfig
from integrations.models import KlaviyoConnection


def connect_config(*, organization: Organization, config: KlaviyoConfig) -> KlaviyoConfig:
    """`config` with the scopes a connect attempt of the organization asks Klaviyo for:
    KLAVIYO_SCOPES, and `data-privacy:write` exactly when the organization has turned Klaviyo
    deletion on (even if KLAVIYO_SCOPES names it, no other organization is asked for it)."""
    scopes = tuple(scope for scope in config.scopes if scope not in DATA_PRIVACY_SCOPES)
    if organization.klaviyo_deletion_enabled:
        scopes += DATA_PRIVACY_SCOPES
    return replace(config, scopes=scopes)


def list_missing_scopes(*, granted: Iterable[str], config: KlaviyoConfig) -> list[str]:
    """The scopes asked for (`config.scopes`), other than the event and data-privacy scopes,
    that Klaviyo did not grant, in the order asked: any of them makes the connection
    unusable."""
    granted = set(granted)
    optional = {*EVENT_SCOPES, *DATA_PRIVACY_SCOPES}
    return [scope for scope in config.scopes if scope not in granted and scope not in optional]


def list_missing_scopes_reason(missing: Iterable[str]) -> str:
    """What an organizer reads about a connection lacking list scopes (it names them)."""
    return (
        "Klaviyo did not grant Partyline every permission it needs (missing: "
        f"{', '.join(missing)}). Reconnect to grant them."
    )


def event_scopes_missing_from(granted: Iterable[str]) -> list[str]:
    """The event scopes (EVENT_SCOPES order) absent from `granted`."""
    granted = set(granted)
    return [scope for scope in EVENT_SCOPES if scope not in granted]


def events_missing_scopes(connection: KlaviyoConnection) -> list[str]:
    """The event scopes the connection was not granted, in EVENT_SCOPES order: its lifecycle
    events wait until it has them all ([] when it does)."""
    return event_scopes_missing_from(connection.scopes)


def events_missing_scopes_reason(missing: Iterable[str]) -> str:
    """What an organizer reads about a connection whose lifecycle events wait for scopes."""
    return (
        f"Lifecycle events wait: Klaviyo has not granted Partyline {', '.join(missing)}. "
        "Reconnect to grant them."
    )


def profile_deletion_missing_scopes(connection: KlaviyoConnection) -> list[str]:
    """The data-privacy scopes the connection was not granted: until it has them all ([] when
    it does), erasing a person cannot ask this Klaviyo account to delete their profile. The
    connection itself stays fully usable."""
    granted = set(connection.scopes)
    return [scope for scope in DATA_PRIVACY_SCOPES if scope not in granted]


def profile_deletion_missing_scopes_reason(missing: Iterable[str]) -> str:
    """What an organizer reads about a connection that cannot ask Klaviyo to delete profiles
    (the Integrations page says it under each such connection, and erasure can too)."""
    missing = list(missing)
    return (
        "Partyline cannot ask Klaviyo to delete profiles: Klaviyo has not granted Partyline "
        f"{', '.join(missing)}. Reconnect to grant {'it' if len(missing) == 1 else 'them'}."
    )
