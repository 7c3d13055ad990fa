"""The absolute links Partyline gives people outside a request: in Klaviyo events (read in
flow emails), in calendar entries and on the thank-you page. One home, so an email and a
calendar entry always point at the same page."""

from __future__ import annotations

from django.urls import reverse

from core.links import absolute_url
from parties.models import Attendee, Party


def party_page_url(party: Party) -> str:
    """The public signup page: the party's details for everyone."""
    return absolute_url(reverse("parties:signup", args=[party.slug]))


def party_calendar_url(party: Party) -> str:
    return absolute_url(reverse("parties:party_calendar", args=[party.slug]))


def manage_url(attendee: Attendee) -> str:
    """The attendee's own page: their registration to change, cancel or claim."""
    return absolute_url(reverse("parties:attendee_manage", args=[attendee.manage_token]))


def attendee_calendar_url(attendee: Attendee) -> str:
    """The attendee's own calendar file (its entry links to their page)."""
    return absolute_url(reverse("parties:attendee_calendar", args=[attendee.manage_token]))
