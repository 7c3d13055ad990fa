"""Reads for the parties pages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, TypedDict, cast

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, NullIf, RowNumber
from django.utils import timezone

from accounts.models import Organization
from integrations.budgets import list_budget_message, list_budget_reopens_at
from integrations.models import ConnectionStatus, KlaviyoConnection
from parties.attendance import AttendanceCounts
from parties.events.run import waiting_reason
from parties.models import (
    IN_FLIGHT_STATES,
    Attendee,
    EventState,
    ListState,
    Party,
    PartyEvent,
    PartyMetric,
    Place,
    Reconciliation,
    SyncState,
    retry_can_help,
)
from parties.sync.outcomes import backoff_seconds
from parties.waitlist import LINE_ORDER

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

# The attendee filter's value for those a retry can help (`retry_can_help`).
NEEDS_ATTENTION = "attention"

# Klaviyo did not put these people in the list (the parties list's "Not in the list").
NOT_IN_LIST = (SyncState.FAILED, SyncState.SUPPRESSED, SyncState.NOT_CONFIRMED)


def _count(*states: str) -> Count:
    return Count("attendees", filter=Q(attendees__sync_state__in=states))


class PartyCounts(TypedDict):
    """What `parties_for` annotates on each party: its attendees, counted by where they stand."""

    in_flight_count: int
    synced_count: int
    awaiting_count: int
    not_in_list_count: int
    retryable_count: int
    total_count: int


class PartyCountsAndHealth(PartyCounts):
    """The same, once `with_health` has set each party's `health` and `attention`."""

    health: SyncHealth
    attention: Attention


if TYPE_CHECKING:
    CountedParty = WithAnnotations[Party, PartyCounts]
    PartyWithHealth = WithAnnotations[Party, PartyCountsAndHealth]


def parties_for(*, organization: Organization) -> QuerySet[CountedParty]:
    return (
        Party.objects.filter(organization=organization)
        .select_related("connection")
        .annotate(
            in_flight_count=_count(*IN_FLIGHT_STATES),
            synced_count=_count(SyncState.SYNCED),
            awaiting_count=_count(SyncState.AWAITING_CONFIRMATION),
            not_in_list_count=_count(*NOT_IN_LIST),
            retryable_count=Count("attendees", filter=retry_can_help("attendees__")),
            total_count=Count("attendees"),
        )
    )


@dataclass(frozen=True)
class PartySnapshot:
    """A party's attendees at a glance: counts by state and by place, and when the latest one
    changed."""

    counts: dict[str, int]
    latest_change: datetime | None
    # Every Place's count (registered, waitlisted, offered, cancelled).
    places: dict[str, int]

    @property
    def seats_taken(self) -> int:
        """Places held: registered, and offered while the offer stands."""
        return self.places[Place.REGISTERED] + self.places[Place.OFFERED]


def party_snapshot(*, party: Party) -> PartySnapshot:
    """One grouped query, whatever the number of attendees. `counts` has every state plus
    `total`, `in_flight`, `not_in_list`, `retryable` (`retry_can_help`) and `retry_failed`
    (the rejected among them); `places` every place; `latest_change` is the newest attendee
    `updated_at` (every state change bumps it), which with the party row tells a page what
    changed."""
    counts = {state: 0 for state in SyncState.values}
    places = {place: 0 for place in Place.values}
    retry_failed = 0
    latest_change = None
    rows = (
        party.attendees.order_by()
        .values("sync_state", "place", "refused_as_sent")
        .annotate(n=Count("pk"), latest=Max("updated_at"))
    )
    for row in rows:
        counts[row["sync_state"]] += row["n"]
        places[row["place"]] += row["n"]
        if row["sync_state"] == SyncState.FAILED and not row["refused_as_sent"]:
            retry_failed += row["n"]
        if latest_change is None or (row["latest"] and row["latest"] > latest_change):
            latest_change = row["latest"]
    counts["total"] = sum(counts.values())
    counts["in_flight"] = sum(counts[state] for state in IN_FLIGHT_STATES)
    counts["not_in_list"] = sum(counts[state] for state in NOT_IN_LIST)
    counts["retry_failed"] = retry_failed
    counts["retryable"] = retry_failed + counts[SyncState.NOT_CONFIRMED]
    return PartySnapshot(counts=counts, latest_change=latest_change, places=places)


def place_summary(*, places: dict[str, int]) -> list[tuple[str, str, int]]:
    """(place, label, count) for every place, in the order a registration moves."""
    return [(place, label, places[place]) for place, label in Place.choices]


@dataclass(frozen=True)
class AttendanceSummary:
    """Who came, for the party page: checked in (standing check-ins), the walk-ins among
    them, and, once the party is over, the no-shows (registered, not checked in)."""

    checked_in: int
    walk_ins: int
    no_shows: int | None
    counts: AttendanceCounts


def attendance_summary(
    *, party: Party, counts: AttendanceCounts, places: dict[str, int]
) -> AttendanceSummary | None:
    """The party's attendance once there is any to show: a check-in was recorded, or the
    party has started (None before)."""
    now = timezone.now()
    if not counts.recorded and party.starts_at > now:
        return None
    over = party.ends_at_or_default <= now
    no_shows = max(places[Place.REGISTERED] - counts.registered_checked_in, 0) if over else None
    return AttendanceSummary(
        checked_in=counts.checked_in, walk_ins=counts.walk_ins, no_shows=no_shows, counts=counts
    )


def party_state_summary(*, counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """(state, label, count) for every state, in pipeline order."""
    return [(state, label, counts[state]) for state, label in SyncState.choices]


def reconciliation_latest(*, party: Party) -> Reconciliation | None:
    return party.reconciliations.first()


def attendees_for(
    *, party: Party, query: str = "", state: str = "", place: str = ""
) -> QuerySet[Attendee]:
    attendees = party.attendees.order_by("-created_at", "-pk")
    if query.strip():
        attendees = attendees.filter(email__icontains=query.strip())
    if place in Place.values:
        attendees = attendees.filter(place=place)
    if state in SyncState.values:
        attendees = attendees.filter(sync_state=state)
    elif state == NEEDS_ATTENTION:
        attendees = attendees.filter(retry_can_help())
    return attendees


def with_waitlist_position(attendees: QuerySet[Attendee]) -> QuerySet[Attendee]:
    """Attendees with `waitlist_position` (1 for the first person waiting; None for anyone
    not waiting), counted in the same query whatever the filter: for a page of rows (each
    waiting row counts the people ahead of it, so not for a whole party: see
    `with_waitlist_rank`)."""
    ahead = (
        Attendee.objects.filter(party_id=OuterRef("party_id"), place=Place.WAITLISTED)
        .filter(
            Q(waitlisted_at__lt=OuterRef("waitlisted_at"))
            | Q(waitlisted_at=OuterRef("waitlisted_at"), pk__lt=OuterRef("pk"))
        )
        .order_by()
        .values("party_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return attendees.annotate(
        waitlist_position=Case(
            When(
                place=Place.WAITLISTED,
                then=Coalesce(Subquery(ahead, output_field=IntegerField()), 0) + 1,
            ),
            default=None,
            output_field=IntegerField(),
        )
    )


def with_waitlist_rank(attendees: QuerySet[Attendee]) -> QuerySet[Attendee]:
    """A whole party's attendees with `waitlist_position`, as `with_waitlist_position` has it,
    ranked in one pass over the rows selected (so only for an unfiltered party: the CSV)."""
    rank = Window(RowNumber(), partition_by=[F("place")], order_by=list(LINE_ORDER))
    return attendees.annotate(
        waitlist_position=Case(
            When(place=Place.WAITLISTED, then=rank), default=None, output_field=IntegerField()
        )
    )


# The waitlist shown on the party page: the first people, in order (the counts say how many).
WAITLIST_SHOWN = 50


@dataclass(frozen=True)
class WaitlistEntry:
    attendee: Attendee
    # 1 for the first person waiting; None for someone offered a place.
    position: int | None


def waitlist_head(*, party: Party, limit: int = WAITLIST_SHOWN) -> list[WaitlistEntry]:
    """The people offered a place (soonest deadline first), then the first people waiting in
    order: one query."""
    rows = (
        party.attendees.filter(place__in=(Place.OFFERED, Place.WAITLISTED))
        .annotate(offered=Case(When(place=Place.OFFERED, then=0), default=1))
        .order_by("offered", "offer_expires_at", "waitlisted_at", "pk")
        .only(
            "pk",
            "party_id",
            "email",
            "first_name",
            "last_name",
            "place",
            "waitlisted_at",
            "offer_expires_at",
        )[:limit]
    )
    entries, waiting = [], 0
    for attendee in rows:
        position = None
        if attendee.place == Place.WAITLISTED:
            waiting += 1
            position = waiting
        entries.append(WaitlistEntry(attendee=attendee, position=position))
    return entries


# --- Where a party's signups come from ---------------------------------------------------------

# The party page's "Signups by source" shows the biggest; the CSV has every signup's.
SOURCES_SHOWN = 20


@dataclass(frozen=True)
class SignupSourceRow:
    # The campaign's utm_source, else the site that referred the signup ("" for neither).
    source: str
    medium: str
    campaign: str
    signups: int

    @property
    def direct(self) -> bool:
        """Nothing says where they came from: a typed address, a bookmark, an app's link."""
        return not (self.source or self.medium or self.campaign)


def signup_sources(*, party: Party, limit: int = SOURCES_SHOWN) -> list[SignupSourceRow]:
    """The party's signups counted by where they came from, the most first, in one aggregate
    query. A signup without a campaign counts under the site that referred it (as analytics
    tools do). Erased registrations are left out: where they came from went with them."""
    rows = (
        party.attendees.filter(erased_at__isnull=True)
        .values(
            source=Coalesce(NullIf("utm_source", Value("")), F("referrer_host")),
            medium=F("utm_medium"),
            campaign=F("utm_campaign"),
        )
        .annotate(signups=Count("pk"))
        .order_by("-signups", "source", "medium", "campaign")[:limit]
    )
    return [SignupSourceRow(**row) for row in rows]


# --- A party's lifecycle events ----------------------------------------------------------------


@dataclass(frozen=True)
class EventColumn:
    """One column of the party's event counts: the states it counts, and what it means."""

    key: str
    label: str
    meaning: str
    states: tuple[str, ...]


EVENT_COLUMNS = (
    EventColumn(
        "waiting",
        "Waiting",
        "Not sent to Klaviyo yet (or being sent right now).",
        (EventState.WAITING, EventState.SENDING),
    ),
    EventColumn(
        "sent",
        "Sent",
        "Klaviyo accepted it; delivered once we see it recorded.",
        (EventState.SENT,),
    ),
    EventColumn(
        "delivered",
        "Delivered",
        "Recorded by Klaviyo, as we read it back: any live flow it triggers has it.",
        (EventState.DELIVERED,),
    ),
    EventColumn(
        "dropped",
        "Dropped",
        "Klaviyo accepted it but never recorded it: it drops the events of addresses it rejects.",
        (EventState.NOT_RECORDED,),
    ),
    EventColumn(
        "rejected",
        "Rejected",
        "Klaviyo refused it and said why (the attendee's row shows the reason).",
        (EventState.REJECTED,),
    ),
    EventColumn(
        "withdrawn",
        "Withdrawn",
        "Taken back before it was sent: the party was cancelled or its time changed.",
        (EventState.WITHDRAWN,),
    ),
)
_COLUMN_OF_STATE = {state: column.key for column in EVENT_COLUMNS for state in column.states}
_IN_FLIGHT_COLUMNS = ("waiting", "sent")


@dataclass(frozen=True)
class MetricEvents:
    """A metric's events for the party, counted by column (EVENT_COLUMNS)."""

    metric: str
    label: str
    counts: dict[str, int]

    @property
    def cells(self) -> list[int]:
        return [self.counts[column.key] for column in EVENT_COLUMNS]


@dataclass(frozen=True)
class PartyEvents:
    """The party's lifecycle events at a glance, and what holds them back."""

    # Attendees' events, one row per metric that has any, in the catalogue's order.
    metrics: list[MetricEvents]
    # The organizer's test events of this party (`sample: true`), counted by column.
    samples: dict[str, int]
    # Why the account's event sender stopped and waits for a person ("" while it runs).
    paused_reason: str
    # Why the account's events cannot go now (a reconnect, missing scopes; "" if they can).
    blocked_reason: str

    @property
    def in_flight(self) -> int:
        rows = [row.counts for row in self.metrics] + [self.samples]
        return sum(row[key] for row in rows for key in _IN_FLIGHT_COLUMNS)

    @property
    def samples_total(self) -> int:
        return sum(self.samples.values())


def _empty_counts() -> dict[str, int]:
    return {column.key: 0 for column in EVENT_COLUMNS}


def event_sender_paused_reason(connection: KlaviyoConnection) -> str:
    """The account's event sender's pause ("" when it has no sender yet or runs); free when
    the connection was loaded with `select_related("event_sender")`."""
    try:
        return connection.event_sender.paused_reason
    except ObjectDoesNotExist:
        return ""


def party_events(*, party: Party) -> PartyEvents:
    """The party's events counted by metric and state in one grouped query, whatever their
    number; test events (no attendee) apart. `party.connection` loaded."""
    by_metric: dict[str, dict[str, int]] = {}
    samples = _empty_counts()
    rows = (
        PartyEvent.objects.filter(party=party)
        .order_by()
        .values("metric", "state")
        .annotate(
            attendees=Count("pk", filter=Q(attendee__isnull=False)),
            samples=Count("pk", filter=Q(attendee__isnull=True)),
        )
    )
    for row in rows:
        column = _COLUMN_OF_STATE[row["state"]]
        if row["attendees"]:
            counts = by_metric.setdefault(row["metric"], _empty_counts())
            counts[column] += row["attendees"]
        samples[column] += row["samples"]
    return PartyEvents(
        metrics=[
            MetricEvents(metric=metric, label=label, counts=by_metric[metric])
            for metric, label in PartyMetric.choices
            if metric in by_metric
        ],
        samples=samples,
        paused_reason=event_sender_paused_reason(party.connection),
        blocked_reason=waiting_reason(party.connection),
    )


def with_events(attendees: QuerySet[Attendee]) -> QuerySet[Attendee]:
    """Attendees with their events, oldest first, in one more query for all of them; each
    event's `state_word` is its column's word in the party's event counts ("delivered")."""
    state_word = Case(
        *(
            When(state=state, then=Value(column.label.lower()))
            for column in EVENT_COLUMNS
            for state in column.states
        ),
        default=F("state"),
        output_field=CharField(),
    )
    return attendees.prefetch_related(
        Prefetch(
            "events",
            queryset=PartyEvent.objects.order_by("occurred_at", "pk")
            .only("pk", "attendee_id", "metric", "state", "reason", "occurred_at")
            .annotate(state_word=state_word),
        )
    )


# --- Klaviyo's daily budget of new lists ---------------------------------------------------


def list_budget_notices(
    *, connections: Iterable[KlaviyoConnection]
) -> list[tuple[KlaviyoConnection, str]]:
    """For the new-party form: each connection whose account has no new list left today,
    with the message saying when its parties' lists will be created."""
    notices = []
    for connection in connections:
        reopens_at = list_budget_reopens_at(connection=connection)
        if reopens_at is not None:
            notices.append((connection, list_budget_message(reopens_at=reopens_at)))
    return notices


# --- What is happening to a party's signups, and what happens next ---------------------------


class SyncHealthKind(StrEnum):
    DISCONNECTED = "disconnected"
    NEEDS_RECONNECT = "needs_reconnect"
    LIST_FAILED = "list_failed"
    LIST_PENDING = "list_pending"
    UNREACHABLE = "unreachable"
    RATE_LIMITED = "rate_limited"
    PAUSED = "paused"
    SENDING = "sending"
    UP_TO_DATE = "up_to_date"


# Kinds where signups wait on something other than Klaviyo doing its work.
WAITING_KINDS = frozenset(
    {
        SyncHealthKind.DISCONNECTED,
        SyncHealthKind.NEEDS_RECONNECT,
        SyncHealthKind.LIST_FAILED,
        SyncHealthKind.LIST_PENDING,
        SyncHealthKind.UNREACHABLE,
        SyncHealthKind.RATE_LIMITED,
        SyncHealthKind.PAUSED,
    }
)


@dataclass(frozen=True)
class SyncHealth:
    """Where a party's signups stand on their way to Klaviyo (the templates say it in words:
    parties/_sync_status.html)."""

    kind: SyncHealthKind
    # Unreachable: since when Klaviyo has not answered (estimated from the backoff).
    since: datetime | None = None
    # Unreachable: the next attempt; rate-limited: when sending resumes.
    next_try: datetime | None = None
    why: str = ""

    @property
    def is_waiting(self) -> bool:
        return self.kind in WAITING_KINDS

    @property
    def is_blocked(self) -> bool:
        """Nothing moves until someone acts (reconnect, fix the list)."""
        return self.kind in (
            SyncHealthKind.DISCONNECTED,
            SyncHealthKind.NEEDS_RECONNECT,
            SyncHealthKind.LIST_FAILED,
            SyncHealthKind.PAUSED,
        )


def klaviyo_trouble(
    *, party: Party, last_answer: datetime | None = None, now: datetime | None = None
) -> SyncHealth | None:
    """Klaviyo not answering or rate-limiting this party, read from what the engine records:
    consecutive failures (`sync_failures`, reset by the next clean run) and the send gate
    (`next_send_at`: the backoff, Klaviyo's Retry-After, or the coalescing window).
    `last_answer`, the connection's last successful call, bounds when an outage began."""
    now = now or timezone.now()
    gate = party.next_send_at
    if party.sync_failures > 0:
        since = None
        if gate is not None:
            # The latest failure set the gate one backoff ahead, and the engine tries again
            # only once the gate opens, so each earlier failure was at least its own backoff
            # before the next.
            waited = sum(backoff_seconds(n) for n in range(1, party.sync_failures + 1))
            since = gate - timedelta(seconds=waited)
            if last_answer is not None and last_answer > since:
                since = last_answer  # Klaviyo answered then: the outage began later
        return SyncHealth(
            SyncHealthKind.UNREACHABLE,
            since=since,
            next_try=gate if gate is not None and gate > now else None,
        )
    # The window never sets the gate further ahead than one window: beyond it is Klaviyo's
    # Retry-After.
    if gate is not None and gate > now + timedelta(seconds=settings.PARTY_SYNC_WINDOW_SECONDS):
        return SyncHealth(SyncHealthKind.RATE_LIMITED, next_try=gate)
    return None


def party_health(*, party: Party, in_flight: int, now: datetime | None = None) -> SyncHealth:
    """What is happening to the party's signups and what happens next (`party.connection`
    loaded; `in_flight`: attendees waiting, sending or sent)."""
    connection = party.connection
    if connection.status == ConnectionStatus.REVOKED:
        return SyncHealth(SyncHealthKind.DISCONNECTED)
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        return SyncHealth(SyncHealthKind.NEEDS_RECONNECT, why=connection.last_error)
    if party.list_state == ListState.FAILED:
        return SyncHealth(SyncHealthKind.LIST_FAILED, why=party.list_error)
    if party.list_state == ListState.PENDING:
        return SyncHealth(SyncHealthKind.LIST_PENDING, why=party.list_error)
    trouble = klaviyo_trouble(party=party, last_answer=connection.last_successful_call_at, now=now)
    if trouble is not None:
        return trouble
    if party.sync_paused_reason:
        return SyncHealth(SyncHealthKind.PAUSED, why=party.sync_paused_reason)
    if in_flight:
        return SyncHealth(SyncHealthKind.SENDING)
    return SyncHealth(SyncHealthKind.UP_TO_DATE)


@dataclass(frozen=True)
class Attention:
    """Whether a party needs its organizer, and why: the one rule home, the parties list and
    the party page share. Only what a person can act on counts: signups a retry can put in
    the list (`retry_can_help`), or syncing stopped until someone reconnects, fixes the list
    or resumes it. Signups Klaviyo suppressed or refused as sent are facts the counts show,
    not tasks: nothing the organizer does here changes them."""

    retryable: int
    health: SyncHealth

    @property
    def needed(self) -> bool:
        return self.retryable > 0 or self.health.is_blocked


def with_health(parties: Iterable[CountedParty]) -> list[PartyWithHealth]:
    """Parties from `parties_for`, each with `.health` and `.attention` set (no query)."""
    now = timezone.now()
    # Typed as what the loop makes of them: each gets both before it is returned.
    listed = cast("list[PartyWithHealth]", list(parties))
    for party in listed:
        party.health = party_health(party=party, in_flight=party.in_flight_count, now=now)
        party.attention = Attention(retryable=party.retryable_count, health=party.health)
    return listed


def troubled_parties(*, connection_ids: Iterable[int]) -> QuerySet[Party]:
    """The parties of these connections that Klaviyo is failing or slowing down, in one query
    (for the connections' health on Integrations)."""
    ahead = timezone.now() + timedelta(seconds=settings.PARTY_SYNC_WINDOW_SECONDS)
    return (
        Party.objects.filter(connection_id__in=list(connection_ids))
        .filter(Q(sync_failures__gt=0) | Q(next_send_at__gt=ahead))
        .order_by()
        .only("pk", "connection_id", "sync_failures", "next_send_at")
    )


# --- The home page ----------------------------------------------------------------------------

UPCOMING_SHOWN = 5
ATTENTION_SHOWN = 10


@dataclass(frozen=True)
class HomeOverview:
    has_connection: bool
    has_party: bool
    has_signups: bool
    # The party whose link to share (the newest) while nobody has signed up yet.
    newest_party: Party | None
    upcoming: list[PartyWithHealth]
    # Parties whose `Attention` is needed.
    attention: list[PartyWithHealth]
    connections_to_reconnect: list[KlaviyoConnection]

    @property
    def is_set_up(self) -> bool:
        return self.has_connection and self.has_party and self.has_signups


def home_overview(*, organization: Organization) -> HomeOverview:
    """The organization's getting-started checklist and, once set up, its upcoming parties
    and what needs attention: a few queries, whatever the number of parties and signups."""
    connections = list(
        KlaviyoConnection.objects.filter(organization=organization)
        .exclude(status=ConnectionStatus.REVOKED)
        .order_by("klaviyo_organization_name", "pk")
    )
    newest_party = (
        Party.objects.filter(organization=organization).order_by("-created_at", "-pk").first()
    )
    has_signups = Attendee.objects.filter(party__organization=organization).exists()
    parties = parties_for(organization=organization)
    upcoming = parties.filter(starts_at__gte=timezone.now()).order_by("starts_at", "pk")
    # A superset in SQL (what `SyncHealth.is_blocked` can be), narrowed by `Attention`.
    maybe_attention = parties.filter(
        Q(retryable_count__gt=0)
        | ~Q(connection__status=ConnectionStatus.ACTIVE)
        | Q(list_state=ListState.FAILED)
        | ~Q(sync_paused_reason="")
    ).order_by("starts_at", "pk")
    attention = [
        party for party in with_health(maybe_attention[:ATTENTION_SHOWN]) if party.attention.needed
    ]
    return HomeOverview(
        has_connection=bool(connections),
        has_party=newest_party is not None,
        has_signups=has_signups,
        newest_party=newest_party,
        upcoming=with_health(upcoming[:UPCOMING_SHOWN]),
        attention=attention,
        connections_to_reconnect=[
            connection
            for connection in connections
            if connection.status == ConnectionStatus.NEEDS_RECONNECT
        ],
    )
