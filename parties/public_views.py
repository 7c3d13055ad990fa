"""The public signup page of one party: no login, CSRF-protected, rate-limited per IP and per
party. A signup is saved at once and relayed to Klaviyo in the background, so the visitor
never waits on Klaviyo."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.timezones import zone_for
from core.limits import Limit, over_limit
from core.wording import wait_text
from parties import calendar, questions, services
from parties.errors import PartyFull
from parties.forms import SignupForm
from parties.models import Attendee, Party, SignupSource
from parties.places import FULL, waitlist_position

CLOSED_TEMPLATE = "public/closed.html"
PUBLIC_FIELDS = (
    "slug",
    "name",
    "signups_open",
    "cancelled_at",
    "starts_at",
    # What a signup's `Registered for Party` event carries (the account it is sent to, the
    # party's end among its properties): read here, not by a query each per signup.
    "connection",
    "ends_at",
    "address",
    "address2",
    "city",
    "state",
    "description",
    "organization__name",
    "organization__marketing_consent_text",
    "organization__time_zone",
    # Whether the party is full, and what a signup then gets.
    "capacity",
    "seats_taken",
    "waitlist_enabled",
    "claim_window_hours",
    # Whether the thank-you page asks people to confirm by email.
    "opt_in_process",
    "klaviyo_opt_in_process",
    # What the pages are written in.
    "language",
)
# Per client address (core.limits.client_address: the real one behind TRUSTED_PROXIES).
SIGNUP_PER_ADDRESS = Limit("signup-ip", "SIGNUP_RATE_PER_IP")
# The thank-you page shows a brand-new signup its place and its own page's link, carried there
# in a signed cookie (never in the URL). Only a new signup: typing someone else's address into
# the form must not reveal their registration.
THANKS_COOKIE = "partyline_signup"
THANKS_COOKIE_SALT = "parties.signup-thanks"
THANKS_COOKIE_AGE = 60 * 60


def party_locale_activate(party: Party) -> None:
    """Show the rest of this request as the party's guests read it: its times in its
    organization's time zone, its words in its language. Both end with the request (the
    tenancy middleware resets the zone, config.languages the language)."""
    timezone.activate(zone_for(party.organization.time_zone))
    translation.activate(party.language)


def _public_party(slug: str) -> Party:
    """The party, shown in its time zone and language from here on."""
    party = get_object_or_404(
        # What the public pages show and a signup needs: fewer columns to read and build on
        # every visit of a rush (the sync's bookkeeping fields stay behind).
        Party.objects.select_related("organization").only(*PUBLIC_FIELDS),
        slug=slug,
    )
    party_locale_activate(party)
    return party


def _rate_limited(request: HttpRequest, slug: str) -> int:
    """Count this POST against the address's and the party's limits: the seconds to wait when
    over either, else 0."""
    per_party = Limit("signup-party", "SIGNUP_RATE_PER_PARTY", key=lambda _request: slug)
    return over_limit(request, SIGNUP_PER_ADDRESS, per_party)


def _thanks(party: Party, attendee: Attendee | None = None) -> HttpResponseRedirect:
    # 303: the browser follows with a GET, so a reload never re-posts the form.
    path = reverse("parties:signup_thanks", args=[party.slug])
    response = HttpResponseRedirect(path, status=303)
    if attendee is not None:
        response.set_signed_cookie(
            THANKS_COOKIE,
            attendee.manage_token,
            salt=THANKS_COOKIE_SALT,
            max_age=THANKS_COOKIE_AGE,
            path=path,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    return response


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest, slug: str) -> HttpResponse:
    party = _public_party(slug)
    if not party.signups_open:  # a cancelled party's are closed too; the page says why
        return render(request, CLOSED_TEMPLATE, {"party": party})
    if party.is_full and not party.waitlist_enabled:
        # The form comes back by itself when the organizer opens a waitlist or adds places.
        status = 409 if request.method == "POST" else 200
        return render(request, CLOSED_TEMPLATE, {"party": party, "problem": FULL}, status=status)
    wording = services.consent_wording_current(
        organization=party.organization, language=party.language
    )
    asked = questions.questions_asked(party)
    if request.method == "GET":
        form = SignupForm(questions=asked, wording=wording)
        context = {"party": party, "form": form, "full": party.is_full}
        return render(request, "public/signup.html", context)

    wait = _rate_limited(request, slug)
    if wait:
        # Keep what they typed, without judging it: the only problem to show is the wait.
        form = SignupForm(questions=asked, wording=wording)
        form.initial = form.typed(request.POST)
        too_many = _(
            "Too many signups from your network right now. Please try again in %(wait)s."
        ) % {"wait": wait_text(wait)}
        context = {"party": party, "form": form, "too_many": too_many}
        response = render(request, "public/signup.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response
    if request.POST.get(SignupForm.HONEYPOT, "").strip():
        # A bot filled the field people never see: it gets the usual answer, we keep nothing.
        return _thanks(party)
    form = SignupForm(request.POST, questions=asked, wording=wording)
    if not form.is_valid():
        return render(request, "public/signup.html", {"party": party, "form": form}, status=400)
    try:
        attendee, created = services.attendee_register(
            party=party,
            data=form.signup_data,
            signup_source=SignupSource.PUBLIC_PAGE,
            wording=form.wording_seen(),
        )
    except PartyFull:
        # Filled up between the page and the signup: the last places went meanwhile.
        return render(request, CLOSED_TEMPLATE, {"party": party, "problem": FULL}, status=409)
    except services.PartyError as error:
        return render(request, CLOSED_TEMPLATE, {"party": party, "problem": str(error)})
    return _thanks(party, attendee if created else None)


@require_GET
@never_cache
def signup_thanks(request: HttpRequest, slug: str) -> HttpResponse:
    """Thanks; for a new signup, its place (registered, or where on the waitlist) and the link
    to its own page."""
    party = _public_party(slug)
    token = request.get_signed_cookie(
        THANKS_COOKIE, default=None, salt=THANKS_COOKIE_SALT, max_age=THANKS_COOKIE_AGE
    )
    attendee = Attendee.objects.filter(manage_token=token, party=party).first() if token else None
    context: dict[str, object] = {
        "party": party,
        # A double opt-in list emails a confirmation only to those who asked for marketing:
        # one who declined joins the list without it.
        "confirms_by_email": party.confirms_by_email
        and (attendee is None or attendee.marketing_consent),
    }
    if attendee is not None:
        context |= {
            "attendee": attendee,
            "position": waitlist_position(attendee),
            "manage_url": reverse("parties:attendee_manage", args=[attendee.manage_token]),
        }
    return render(request, "public/thanks.html", context)


@require_GET
def party_calendar_file(request: HttpRequest, slug: str) -> HttpResponse:
    """The party's public calendar file (a cancelled party's says so)."""
    party = get_object_or_404(
        Party.objects.select_related("organization").only(*PUBLIC_FIELDS, "details_version"),
        slug=slug,
    )
    party_locale_activate(party)
    return calendar_response(calendar.party_calendar(party), party=party)


def calendar_response(content: bytes, *, party: Party) -> HttpResponse:
    response = HttpResponse(content, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{party.slug}.ics"'
    return response
