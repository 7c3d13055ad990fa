"""What Partyline tells Klaviyo about a party: the metric names and the event properties, one
fixed shape for every party (docs/klaviyo-flows.md is their public description).

Properties are flat strings, numbers and booleans (a multiple-choice answer is its options
joined by ", "): what Klaviyo's flow filters and template tags handle best
(`{{ event.party_name }}`, `party_id` equals ...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from accounts.timezones import zone_for
from parties import attribution
from parties.calendar import google_calendar_url
from parties.links import attendee_calendar_url, manage_url, party_calendar_url, party_page_url
from parties.models import Attendee, Party, PartyMetric

# What an organizer's sample events show where a real party would be.
SAMPLE_PARTY: dict[str, Any] = {
    "party_id": "sample",
    "party_name": "Sample party",
    "address": "1 Sample Street",
    "address2": "",
    "city": "Springfield",
    "state": "",
}


def metric_name(metric: str) -> str:
    """The metric's name in Klaviyo ("Registered for Party"), from its stored value."""
    return str(PartyMetric(metric).label)


def local_time_words(moment: datetime, zone_name: str) -> str:
    """A moment as an attendee reads it in an email: "Saturday 24 December, 6:00 pm MST"."""
    local = timezone.localtime(moment, zone_for(zone_name))
    hour = local.hour % 12 or 12
    half = "am" if local.hour < 12 else "pm"
    return f"{local:%A} {local.day} {local:%B}, {hour}:{local:%M} {half} {local:%Z}"


def local_iso(moment: datetime, zone_name: str) -> str:
    """A moment as ISO 8601 with the zone's offset, to the second: "2031-10-31T18:30:00-04:00"."""
    return timezone.localtime(moment, zone_for(zone_name)).replace(microsecond=0).isoformat()


def party_properties(party: Party) -> dict[str, Any]:
    """The properties every event of the party carries, as the party is now."""
    zone_name = party.organization.time_zone
    ends_at = party.ends_at_or_default
    return {
        "party_id": party.slug,
        "party_name": party.name,
        "starts_at": local_iso(party.starts_at, zone_name),
        "starts_at_local": local_time_words(party.starts_at, zone_name),
        "ends_at": local_iso(ends_at, zone_name),
        "time_zone": zone_name,
        "address": party.address,
        "address2": party.address2,
        "city": party.city,
        "state": party.state,
        "party_url": party_page_url(party),
        # The party's public calendar entry; an attendee's event carries their own instead.
        "calendar_url": party_calendar_url(party),
        "google_calendar_url": google_calendar_url(party),
    }


def attendee_properties(attendee: Attendee) -> dict[str, Any]:
    """The attendee's own answers, the link to their own page (where they change or cancel
    their registration, or claim an offered place) and their own calendar entry (which links
    to that page)."""
    return {
        # Under their questions' keys, which cannot be the catalogue's own names
        # (parties.questions.RESERVED_KEYS); spread first, so they never could override one.
        **{key: flat_answer(value) for key, value in attendee.answers.items()},
        "manage_url": manage_url(attendee),
        "calendar_url": attendee_calendar_url(attendee),
    }


def flat_answer(value: Any) -> str | int | float | bool:
    """An answer as an event property: a multiple choice's options joined ("Vegan, Gluten-free":
    a flow filter's "contains" finds one), anything else as it is."""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return value


def registration_properties(attendee: Attendee, *, from_waitlist: bool) -> dict[str, Any]:
    """`Registered for Party`'s own: whether someone waiting was given the place, and where the
    signup came from (`utm_source`, `utm_medium`, `utm_campaign`, `referrer_host`), only those
    known: a flow's filter such as "utm_source is set" then means what it says."""
    return {"from_waitlist": from_waitlist, **attribution.properties(attendee)}


def unique_id(*, metric: str, occurrence: str, attendee_id: int | None = None, **scope: Any) -> str:
    """The event's `unique_id`: the same attendee, action and occurrence always give the same
    one, so a resend is recorded once. `scope` names who it is for when there is no attendee
    (an organizer's samples: the connection)."""
    if attendee_id is not None:
        who = f"a{attendee_id}"
    else:
        who = "-".join(f"{key}{value}" for key, value in scope.items())
    return f"partyline-{who}-{metric}-{occurrence}"


def occurrence_of(moment: datetime) -> str:
    """A moment as an occurrence key: its UTC time to the second."""
    return f"{int(moment.timestamp())}"
