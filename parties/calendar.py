"""A party as a calendar entry: the .ics files (the public one and each attendee's own) and
the "Add to Google Calendar" link.

icalendar writes the files (RFC 5545's escaping, line folding and VTIMEZONE components);
this module only decides what the entry says. Calendar apps recognise an entry they already
hold by its UID and take a file as newer when its SEQUENCE is higher, so the UID never
changes for the party and SEQUENCE is the party's `details_version`, raised by the services
whenever the time or the place changes and when the party is cancelled.
"""

from __future__ import annotations

from datetime import UTC, date
from urllib.parse import quote, urlencode, urlsplit

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import STATUS, Calendar, Event

from accounts.timezones import zone_for
from parties.links import manage_url, party_page_url
from parties.models import PLACE_FIELDS, Attendee, Party

PRODID = "-//Partyline//Partyline//EN"
GOOGLE_CALENDAR_URL = "https://calendar.google.com/calendar/render"
# Google's `dates`: UTC, to the second.
GOOGLE_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


def party_calendar(party: Party) -> bytes:
    """The public calendar file of the party, the same for everyone."""
    return _calendar(party, uid=f"party-{party.pk}@{_uid_host()}", description=party.description)


def attendee_calendar(attendee: Attendee) -> bytes:
    """The attendee's own calendar file: the party's entry, ending with the link to their
    page. Its UID differs from the public file's, so a calendar holding both keeps two
    entries rather than one overwriting the other."""
    party = attendee.party
    # In the party's language, which the attendee's page activated.
    manage_line = _("Change or cancel your registration: %(link)s") % {"link": manage_url(attendee)}
    description = "\n\n".join(text for text in (party.description, manage_line) if text)
    # The attendee's row id, never their manage token: a UID travels with every copy of the
    # entry (forwarded invitations, shared calendars), and the token is the key to their page.
    uid = f"attendee-{attendee.pk}-party-{party.pk}@{_uid_host()}"
    return _calendar(party, uid=uid, description=description)


def google_calendar_url(party: Party) -> str:
    """A link that opens Google Calendar's new-event page filled in with the party."""
    page_url = party_page_url(party)
    details = "\n\n".join(text for text in (party.description, page_url) if text)
    dates = "/".join(
        moment.astimezone(UTC).strftime(GOOGLE_TIME_FORMAT)
        for moment in (party.starts_at, party.ends_at_or_default)
    )
    query = {
        "action": "TEMPLATE",
        "text": party.name,
        "dates": dates,
        "details": details,
        "location": party_place(party),
        "ctz": party.organization.time_zone,
    }
    # %20 rather than +: a space read as a space by any parser of the query; "/" is allowed
    # in a query, and Google's own links keep the one between the two dates.
    encoded = urlencode(query, safe="/", quote_via=quote)
    return f"{GOOGLE_CALENDAR_URL}?{encoded}"


def party_place(party: Party) -> str:
    """The party's place on one line: "1 Bark Street, Back garden, Boston, MA"."""
    return ", ".join(part for part in (getattr(party, key) for key in PLACE_FIELDS) if part)


def _uid_host() -> str:
    # RFC 5545 suggests a domain on the right of a UID, so ours never meet another producer's.
    return urlsplit(settings.SITE_URL).hostname or "partyline"


def _calendar(party: Party, *, uid: str, description: str) -> bytes:
    """One VCALENDAR holding the party's VEVENT, its times in the organization's zone."""
    zone = zone_for(party.organization.time_zone)
    starts_at = timezone.localtime(party.starts_at, zone)
    ends_at = timezone.localtime(party.ends_at_or_default, zone)
    event = Event.new(
        uid=uid,
        stamp=timezone.now(),
        start=starts_at,
        end=ends_at,
        summary=party.name,
        description=description or None,
        location=party_place(party) or None,
        url=party_page_url(party),
        sequence=party.details_version,
        status=STATUS.CANCELLED if party.is_cancelled else STATUS.CONFIRMED,
    )
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(event)
    # The zone's rules over the party's years (both its standard and daylight time), not
    # icalendar's default 1970-2038: a few lines instead of several kilobytes of transitions.
    calendar.add_missing_timezones(
        first_date=date(starts_at.year, 1, 1), last_date=date(ends_at.year + 1, 1, 1)
    )
    return calendar.to_ical()
