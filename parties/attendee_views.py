"""An attendee's own page, reached by the private link in every email about the party and on
the thank-you page: their place, their details, cancelling, claiming an offered place, and
signing up again after cancelling. No login: the link is the key.

The link is 192 random bits (`Attendee.manage_token`) with no personal data in it; every
request is counted against a per-address limit, so guessing links is slower than hopeless.
The pages are never cached (they show personal data), cannot be framed (X-Frame-Options and
the CSP's frame-ancestors, site-wide) and send no referrer to other sites: the site-wide
policy is `same-origin`, since `no-referrer` makes Chromium send `Origin: null` on the page's
own forms, which the CSRF check rightly refuses.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.limits import Limit, over_limit
from core.wording import wait_text
from parties import calendar, places, questions, services
from parties.forms import AttendeeDetailsForm
from parties.links import attendee_calendar_url
from parties.models import Attendee, Place
from parties.public_views import calendar_response, party_locale_activate

# Every request, reads included: a guess is a GET.
MANAGE_PER_ADDRESS = Limit("manage-ip", "MANAGE_RATE_PER_IP", methods=("GET", "HEAD", "POST"))
# What a token can look like (new_manage_token: 32 URL-safe characters); anything else is not
# looked up at all.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,64}")
GONE_TEMPLATE = "public/manage_gone.html"

View = Callable[..., HttpResponse]


def _attendee(token: str) -> Attendee:
    """The attendee the link belongs to, with their party shown in its time zone and language;
    404 for a link that was never given, was replaced, or whose party or registration was
    deleted."""
    attendee = None
    if TOKEN_SHAPE.fullmatch(token):
        attendee = (
            Attendee.objects.select_related("party__organization")
            .filter(manage_token=token)
            .first()
        )
    if attendee is None:
        raise Http404("No registration has this link.")
    party_locale_activate(attendee.party)
    return attendee


def manage_view(view: View) -> View:
    """The attendee's pages: rate-limited per address, never cached, a clear page for a link
    that no longer works."""

    @never_cache
    def wrapped(request: HttpRequest, token: str) -> HttpResponse:
        wait = over_limit(request, MANAGE_PER_ADDRESS)
        if wait:
            context = {"wait": wait_text(wait)}
            response = render(request, "public/manage_slow_down.html", context, status=429)
            response["Retry-After"] = str(wait)
            return response
        try:
            attendee = _attendee(token)
        except Http404:
            return render(request, GONE_TEMPLATE, status=404)
        return view(request, attendee)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _back(attendee: Attendee) -> HttpResponseRedirect:
    # 303: a reload after an action shows the page, never repeats the action.
    return HttpResponseRedirect(
        reverse("parties:attendee_manage", args=[attendee.manage_token]), status=303
    )


def _page(
    request: HttpRequest, attendee: Attendee, form: AttendeeDetailsForm | None = None
) -> HttpResponse:
    party = attendee.party
    if form is None:
        form = AttendeeDetailsForm(questions=questions.questions_asked(party), instance=attendee)
    context = {
        "attendee": attendee,
        "party": party,
        "form": form,
        "position": places.waitlist_position(attendee),
        "party_over": party.ends_at_or_default <= timezone.now(),
        "calendar_url": attendee_calendar_url(attendee),
        "google_calendar_url": calendar.google_calendar_url(party),
    }
    return render(request, "public/manage.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@manage_view
def attendee_manage(request: HttpRequest, attendee: Attendee) -> HttpResponse:
    """Their place at the party, and their details to change."""
    if request.method == "GET":
        return _page(request, attendee)
    asked = questions.questions_asked(attendee.party)
    form = AttendeeDetailsForm(request.POST, questions=asked, instance=attendee)
    if not form.is_valid():
        return _page(request, attendee, form)
    try:
        changed = services.attendee_update_details(
            attendee=attendee, data=form.details, asked=[question.key for question in asked]
        )
    except services.PartyError as error:
        messages.error(request, str(error))
    else:
        if changed:
            messages.success(request, _("Saved: your details are updated."))
        else:
            messages.info(request, _("Nothing changed: your details were already these."))
    return _back(attendee)


@require_http_methods(["GET", "POST"])
@manage_view
def attendee_cancel(request: HttpRequest, attendee: Attendee) -> HttpResponse:
    """A confirmation step, then the cancellation (a second click changes nothing)."""
    if attendee.place == Place.CANCELLED:
        messages.info(request, _("Your registration is cancelled already."))
        return _back(attendee)
    if request.method == "GET":
        context = {
            "attendee": attendee,
            "party": attendee.party,
            "position": places.waitlist_position(attendee),
        }
        return render(request, "public/manage_cancel.html", context)
    if places.attendee_cancel(attendee=attendee, by=places.BY_ATTENDEE):
        messages.success(
            request,
            _(
                "Your registration is cancelled. Your other emails from %(organization)s "
                "don't change."
            )
            % {"organization": attendee.party.organization.name},
        )
    else:
        messages.info(request, _("Your registration is cancelled already."))
    return _back(attendee)


@require_POST
@manage_view
def attendee_claim(request: HttpRequest, attendee: Attendee) -> HttpResponse:
    """Take the place they were offered."""
    try:
        places.offer_claim(attendee=attendee)
    except services.PartyError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The place is yours: you're registered. See you there!"))
    return _back(attendee)


@require_POST
@manage_view
def attendee_register_again(request: HttpRequest, attendee: Attendee) -> HttpResponse:
    """Sign up again after cancelling: a place if one is free, else the waitlist."""
    try:
        place = services.attendee_register_again(attendee=attendee)
    except services.PartyError as error:
        messages.error(request, str(error))
    else:
        if place == Place.WAITLISTED:
            messages.success(request, _("The party is full: you're on the waitlist again."))
        else:
            messages.success(request, _("You're registered again. See you there!"))
    return _back(attendee)


@require_GET
@manage_view
def attendee_calendar_file(request: HttpRequest, attendee: Attendee) -> HttpResponse:
    """The attendee's own calendar file: the party's entry, linking to this page."""
    return calendar_response(calendar.attendee_calendar(attendee), party=attendee.party)
