"""Reads for the integrations pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Case, Func, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Organization
from integrations.klaviyo.config import klaviyo_config
from integrations.klaviyo.revision import RevisionStatus, revision_status
from integrations.models import (
    ConnectionEvent,
    ConnectionStatus,
    EventKind,
    KlaviyoConnection,
)
from integrations.pipelines import pipelines
from integrations.refresh_budget import refreshes_this_minute
from integrations.scopes import (
    connect_config,
    events_missing_scopes,
    events_missing_scopes_reason,
    profile_deletion_missing_scopes,
    profile_deletion_missing_scopes_reason,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

# What each scope lets Partyline do, in words for the people granting it.
SCOPE_DESCRIPTIONS = {
    "accounts:read": "Read your Klaviyo account's name and public id",
    "lists:read": "See your lists and who is on them",
    "lists:write": "Create, rename and delete lists for your parties",
    "profiles:read": "Look up profiles, to check attendees against Klaviyo",
    "profiles:write": "Create and update attendee profiles (name, pet name, pet type)",
    "subscriptions:write": "Subscribe attendees who gave consent to email marketing",
    "events:write": "Record what attendees do (sign up, confirm) as events that start your flows",
    "events:read": "Read those events back, to check Klaviyo recorded them",
    "metrics:read": "See your metrics, to find the ones Partyline's events are recorded under",
    "flows:read": "See which of your flows Partyline's events start",
    "data-privacy:write": (
        "Delete a person's profile from your whole Klaviyo account when you erase them "
        "(asked only because your organization turned this on)"
    ),
}


def describe_scopes(scopes: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    return [(scope, SCOPE_DESCRIPTIONS.get(scope, scope)) for scope in scopes]


def requested_scopes(*, organization: Organization) -> list[tuple[str, str]]:
    """What connecting asks Klaviyo for on the organization's behalf, in words."""
    return describe_scopes(
        connect_config(organization=organization, config=klaviyo_config()).scopes
    )


def events_waiting_reason(connection: KlaviyoConnection) -> str:
    """Why the connection's lifecycle events wait for scopes ("" when it has them all)."""
    missing = events_missing_scopes(connection)
    return events_missing_scopes_reason(missing) if missing else ""


def deletion_missing_scopes(connection: KlaviyoConnection) -> list[str]:
    """The data-privacy scopes the connection lacks while its organization has Klaviyo
    deletion on: reconnecting grants them ([] with the option off: nothing waits for them)."""
    if not connection.organization.klaviyo_deletion_enabled:
        return []
    return profile_deletion_missing_scopes(connection)


def deletion_waiting_reason(connection: KlaviyoConnection) -> str:
    """Why erasure cannot ask the connection's Klaviyo account to delete profiles ("" when it
    can, or the organization does not ask it to)."""
    missing = deletion_missing_scopes(connection)
    return profile_deletion_missing_scopes_reason(missing) if missing else ""


def connections_for(*, organization: Organization) -> QuerySet[KlaviyoConnection]:
    """The organization's connections, live ones first (each with its organization, whose
    Klaviyo deletion option its health reads)."""
    return (
        KlaviyoConnection.objects.filter(organization=organization)
        .select_related("connected_by", "organization")
        .order_by("status", "klaviyo_organization_name", "pk")
    )


def active_connections_for(*, organization: Organization) -> QuerySet[KlaviyoConnection]:
    return connections_for(organization=organization).filter(status=ConnectionStatus.ACTIVE)


def connections_lacking_deletion_scope(*, organization: Organization) -> list[KlaviyoConnection]:
    """The organization's connections (disconnected ones aside) that Klaviyo has not granted
    `data-privacy:write`: each must be reconnected before erasure can ask its account to
    delete a profile."""
    live = connections_for(organization=organization).exclude(status=ConnectionStatus.REVOKED)
    return [connection for connection in live if profile_deletion_missing_scopes(connection)]


def deletion_reconnects(
    sender: object, *, organization: Organization, **kwargs: object
) -> list[str]:
    """The answer to accounts' `klaviyo_deletion_reconnects_asked`: the names of the
    connections to reconnect for Klaviyo deletion to work."""
    return [c.display_name for c in connections_lacking_deletion_scope(organization=organization)]


def connections_needing_reconnect(*, organization: Organization) -> list[KlaviyoConnection]:
    """For the banner on every organizer page: one small query on the organization's rows."""
    return list(
        KlaviyoConnection.objects.filter(
            organization=organization, status=ConnectionStatus.NEEDS_RECONNECT
        )
        .only("pk", "klaviyo_organization_name", "klaviyo_account_id", "label", "status")
        .order_by("klaviyo_organization_name", "pk")[:5]
    )


# --- Connection health (the organizers' Integrations page) ---------------------------------


class HealthKind(StrEnum):
    WORKING = "working"
    UNREACHABLE = "unreachable"
    RATE_LIMITED = "rate_limited"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class ConnectionHealth:
    """How a connection is doing, in the terms of its matching action
    (integrations/_health.html says it in words)."""

    connection: KlaviyoConnection
    kind: HealthKind
    # Unreachable: since when (estimated); the next attempt. Rate-limited: until when.
    since: datetime | None = None
    next_try: datetime | None = None
    why: str = ""
    # An active connection's missing event scopes: its list sync works, its lifecycle
    # events wait (`integrations.scopes`).
    events_missing: tuple[str, ...] = ()
    # An active connection's missing data-privacy scopes, its organization having Klaviyo
    # deletion on: everything works but erasure asking this account to delete profiles.
    deletion_missing: tuple[str, ...] = ()

    @property
    def can_reconnect(self) -> bool:
        return bool(self.events_missing or self.deletion_missing) or self.kind in (
            HealthKind.NEEDS_RECONNECT,
            HealthKind.DISCONNECTED,
        )

    @property
    def events_waiting_reason(self) -> str:
        return events_missing_scopes_reason(self.events_missing) if self.events_missing else ""

    @property
    def deletion_waiting_reason(self) -> str:
        if not self.deletion_missing:
            return ""
        return profile_deletion_missing_scopes_reason(self.deletion_missing)


def connections_health(
    *, connections: Sequence[KlaviyoConnection], now: datetime | None = None
) -> list[ConnectionHealth]:
    """Each connection's health, from its status, its own last error (a failed token
    refresh), the event scopes an active one lacks (and the data-privacy scope, when its
    organization has Klaviyo deletion on), and the troubles the pipelines using it report
    (`integrations.pipelines`): one query per pipeline, and one more when a refresh is
    failing, whatever the number of connections (read with their organization)."""
    now = now or timezone.now()
    active = [connection for connection in connections if connection.is_active]
    unreachable: dict[int, list[tuple[datetime | None, datetime | None]]] = {}
    limited_until: dict[int, datetime] = {}
    last_answer = {connection.pk: connection.last_successful_call_at for connection in active}
    for pipeline in pipelines():
        for trouble in pipeline.troubles(last_answer, now):
            if trouble.unreachable:
                unreachable.setdefault(trouble.connection_id, []).append(
                    (trouble.since, trouble.next_try)
                )
            elif trouble.next_try is not None:
                until = limited_until.get(trouble.connection_id)
                limited_until[trouble.connection_id] = max(
                    until or trouble.next_try, trouble.next_try
                )
    failing_refresh = {
        connection.pk
        for connection in active
        if connection.last_error
        and connection.last_error_at
        and (
            connection.last_successful_call_at is None
            or connection.last_error_at > connection.last_successful_call_at
        )
    }
    first_refresh_failure = _first_failures_since_success(
        [c for c in active if c.pk in failing_refresh]
    )

    health = []
    for connection in connections:
        if connection.status == ConnectionStatus.REVOKED:
            health.append(ConnectionHealth(connection, HealthKind.DISCONNECTED))
        elif connection.status == ConnectionStatus.NEEDS_RECONNECT:
            health.append(
                ConnectionHealth(
                    connection,
                    HealthKind.NEEDS_RECONNECT,
                    since=connection.last_error_at,
                    why=connection.last_error,
                )
            )
        elif connection.pk in unreachable or connection.pk in failing_refresh:
            outages = unreachable.get(connection.pk, [])
            starts = [since for since, _ in outages if since is not None]
            # A failing refresh always has its `last_error_at`.
            if connection.pk in failing_refresh and connection.last_error_at is not None:
                starts.append(first_refresh_failure.get(connection.pk, connection.last_error_at))
            tries = [next_try for _, next_try in outages if next_try is not None]
            health.append(
                ConnectionHealth(
                    connection,
                    HealthKind.UNREACHABLE,
                    since=min(starts, default=None),
                    next_try=min(tries, default=None),
                    why=connection.last_error if connection.pk in failing_refresh else "",
                )
            )
        elif connection.pk in limited_until:
            health.append(
                ConnectionHealth(
                    connection, HealthKind.RATE_LIMITED, next_try=limited_until[connection.pk]
                )
            )
        else:
            health.append(ConnectionHealth(connection, HealthKind.WORKING))
    return [
        replace(
            row,
            events_missing=tuple(events_missing_scopes(row.connection)),
            deletion_missing=tuple(deletion_missing_scopes(row.connection)),
        )
        if row.connection.is_active
        else row
        for row in health
    ]


def _first_failures_since_success(connections: list[KlaviyoConnection]) -> dict[int, datetime]:
    """The first failed refresh after each connection's last successful call (its audit
    trail), in one query; none when no connection is failing."""
    if not connections:
        return {}
    first: dict[int, datetime] = {}
    events = ConnectionEvent.objects.filter(
        connection__in=connections, kind=EventKind.REFRESH_FAILED
    ).values_list("connection_id", "created_at")
    since = {c.pk: c.last_successful_call_at for c in connections}
    successes = [at for at in since.values() if at is not None]
    if len(successes) == len(since):  # every one has succeeded once: skip the older events
        events = events.filter(created_at__gt=min(successes))
    for connection_id, created_at in events.order_by("created_at"):
        last_success = since[connection_id]
        if (last_success is None or created_at > last_success) and connection_id not in first:
            first[connection_id] = created_at
    return first


def api_revision() -> RevisionStatus:
    """The Klaviyo API revision Partyline sends (KLAVIYO_REVISION), and how old it is."""
    return revision_status(klaviyo_config().revision, today=timezone.localdate())


# --- Connection health (the operators' admin) ---------------------------------------------

# Audit events that mean something went wrong with a connection.
FAILURE_EVENT_KINDS = (EventKind.REFRESH_FAILED, EventKind.NEEDS_RECONNECT, EventKind.REVOKE_FAILED)
FAILURE_WINDOW = timedelta(hours=24)


def _count(queryset: QuerySet) -> Coalesce:
    """COUNT(*) of a correlated queryset, as one subquery (0 when nothing matches).

    An aggregate the ORM does not see as one, so the subquery has no GROUP BY and every
    count rides in the same SELECT as its connection, whatever the number of rows.
    """
    counted = queryset.order_by().annotate(_n=Func(Value(1), function="COUNT")).values("_n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


class ConnectionHealthCounts(TypedDict):
    """What `connections_with_health` annotates on each connection."""

    failures_24h: int
    refresh_budget_used: int
    work_waiting: int
    shared_with: int


if TYPE_CHECKING:
    ConnectionWithHealth = WithAnnotations[KlaviyoConnection, ConnectionHealthCounts]


def connections_with_health(
    queryset: QuerySet[KlaviyoConnection],
) -> QuerySet[ConnectionWithHealth]:
    """Annotate each connection with what an operator needs to judge its health, in one query:

    - `failures_24h`: failure events (refresh failed, needs reconnect, revoke failed) in 24 h;
    - `refresh_budget_used`: refreshes counted in Klaviyo's current minute window
      (integrations.refresh_budget: Klaviyo allows REFRESH_BUDGET a minute);
    - `work_waiting`: the items of every pipeline using it still on their way to Klaviyo
      (attendees pending, sending or sent, ...; `integrations.pipelines`);
    - `shared_with`: how many other organizations hold a live connection to the same
      Klaviyo account (0 for a disconnected connection, which shares nothing).
    """
    now = timezone.now()
    events = ConnectionEvent.objects.filter(connection=OuterRef("pk"))
    others = (
        KlaviyoConnection.objects.filter(klaviyo_account_id=OuterRef("klaviyo_account_id"))
        .exclude(organization=OuterRef("organization"))
        .exclude(status=ConnectionStatus.REVOKED)
    )
    return queryset.annotate(
        failures_24h=_count(
            events.filter(kind__in=FAILURE_EVENT_KINDS, created_at__gte=now - FAILURE_WINDOW)
        ),
        refresh_budget_used=refreshes_this_minute(),
        work_waiting=sum(
            (
                _count(pipeline.waiting().filter(**{pipeline.connection_path: OuterRef("pk")}))
                for pipeline in pipelines()
            ),
            start=Value(0),
        ),
        shared_with=Case(
            When(status=ConnectionStatus.REVOKED, then=Value(0)),
            default=_count(others),
            output_field=IntegerField(),
        ),
    )


def organizations_sharing_account(*, connection: KlaviyoConnection) -> QuerySet[Organization]:
    """The other organizations with a live connection to this connection's Klaviyo account."""
    live = KlaviyoConnection.objects.filter(
        klaviyo_account_id=connection.klaviyo_account_id
    ).exclude(status=ConnectionStatus.REVOKED)
    return (
        Organization.objects.filter(pk__in=live.values("organization"))
        .exclude(pk=connection.organization_id)
        .order_by("name")
    )
