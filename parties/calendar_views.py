"""The party's calendar files: the public one beside the signup page, and each attendee's own
beside their page (its link to that page is theirs alone, so it is never cached on the way)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET

from parties import calendar
from parties.events.catalogue import absolute_url
from parties.models import Attendee, Party
from parties.public_views import PUBLIC_FIELDS

CONTENT_TYPE = "text/calendar; charset=utf-8"


def _calendar_response(content: bytes, *, party: Party) -> HttpResponse:
    response = HttpResponse(content, content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{party.slug}.ics"'
    return response


@require_GET
def party_calendar_file(request: HttpRequest, slug: str) -> HttpResponse:
    party = get_object_or_404(
        Party.objects.select_related("organization").only(*PUBLIC_FIELDS, "details_version"),
        slug=slug,
    )
    return _calendar_response(calendar.party_calendar(party), party=party)


@require_GET
def attendee_calendar_file(request: HttpRequest, token: str) -> HttpResponse:
    attendee = get_object_or_404(
        Attendee.objects.select_related("party__organization"), manage_token=token
    )
    manage_url = absolute_url(reverse("parties:attendee_manage", args=[attendee.manage_token]))
    content = calendar.attendee_calendar(attendee, manage_url=manage_url)
    response = _calendar_response(content, party=attendee.party)
    response["Cache-Control"] = "private, no-store"
    return response
