"""How parties answer what integrations tells them, and what they tell integrations and
accounts."""

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from accounts.deletion import OrganizationPart
from accounts.models import Organization
from integrations.models import KlaviyoConnection
from integrations.pipelines import ConnectionTrouble, Pipeline
from parties import selectors, services
from parties.models import (
    EVENT_IN_FLIGHT_STATES,
    IN_FLIGHT_STATES,
    Attendee,
    EventSender,
    Party,
    PartyEvent,
)


def resume_parties(sender: type, *, connection: KlaviyoConnection, **kwargs: Any) -> None:
    """A reconnected connection resumes its paused parties and their waiting events without
    anyone asking; a first connect sends the organizer's sample events."""
    services.parties_resume(connection=connection)
    services.events_resume(connection=connection)
    services.first_connect_samples(connection=connection)


def replan_moments(sender: type, *, organization: Organization, **kwargs: Any) -> None:
    """An organization's time zone or default reminders changed: its parties' reminders
    move."""
    services.organization_moments_replan(organization=organization)


def parties_part() -> OrganizationPart:
    """The organization's parties as its deletion sees them: counted with their attendees,
    and deleted first, with everything of theirs (attendees, events, moments, checks), since
    a party protects the connection it sends through from the organization's cascade."""
    return OrganizationPart(name="parties", count=_parties_count, release=_parties_release)


def _parties_count(organization: Organization) -> Mapping[str, int]:
    return {
        "parties": Party.objects.filter(organization=organization).count(),
        "attendees": Attendee.objects.filter(party__organization=organization).count(),
    }


def _parties_release(organization: Organization) -> Mapping[str, int]:
    _total, deleted = Party.objects.filter(organization=organization).delete()
    return deleted


def attendee_pipeline() -> Pipeline:
    """The attendee sync as integrations sees it: attendees still on their way to a list,
    and Klaviyo failing or rate-limiting the parties' sends."""
    return Pipeline(
        name="attendees",
        waiting=lambda: Attendee.objects.filter(sync_state__in=IN_FLIGHT_STATES),
        connection_path="party__connection",
        troubles=_attendee_troubles,
    )


def _attendee_troubles(
    last_answer: Mapping[int, datetime | None], now: datetime
) -> Iterator[ConnectionTrouble]:
    for party in selectors.troubled_parties(connection_ids=last_answer):
        trouble = selectors.klaviyo_trouble(
            party=party, last_answer=last_answer[party.connection_id], now=now
        )
        if trouble is not None:
            yield ConnectionTrouble(
                connection_id=party.connection_id,
                unreachable=trouble.kind == selectors.SyncHealthKind.UNREACHABLE,
                since=trouble.since,
                next_try=trouble.next_try,
            )


def events_pipeline() -> Pipeline:
    """The lifecycle events as integrations sees them: events still on their way to Klaviyo,
    and Klaviyo failing an account's sends (its sender backing off)."""
    return Pipeline(
        name="events",
        waiting=lambda: PartyEvent.objects.filter(state__in=EVENT_IN_FLIGHT_STATES),
        connection_path="connection",
        troubles=_events_troubles,
    )


def _events_troubles(
    last_answer: Mapping[int, datetime | None], now: datetime
) -> Iterator[ConnectionTrouble]:
    backing_off = EventSender.objects.filter(pk__in=list(last_answer), failures__gt=0)
    for connection_id, next_send_at in backing_off.values_list("pk", "next_send_at"):
        yield ConnectionTrouble(
            connection_id=connection_id,
            unreachable=True,
            since=last_answer[connection_id],
            next_try=next_send_at,
        )
