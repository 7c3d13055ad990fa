"""The scope policy: what a connection can do with the scopes Klaviyo granted it.

Partyline asks for two groups of scopes (`integrations.klaviyo.config`). Without a list scope
a connection cannot work at all: it is saved needs-reconnect, and every party using it
pauses. Without an event scope only lifecycle events wait: the connection stays active and
its list sync carries on. Connections made before Partyline sent events are in that case
until someone reconnects them.
"""

from __future__ import annotations

from collections.abc import Iterable

from integrations.klaviyo.config import EVENT_SCOPES, KlaviyoConfig
from integrations.models import KlaviyoConnection


def list_missing_scopes(*, granted: Iterable[str], config: KlaviyoConfig) -> list[str]:
    """The scopes Partyline asks for (KLAVIYO_SCOPES), other than the event scopes, that
    Klaviyo did not grant, in the order asked: any of them makes the connection unusable."""
    granted = set(granted)
    return [scope for scope in config.scopes if scope not in granted and scope not in EVENT_SCOPES]


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
