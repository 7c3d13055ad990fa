"""The public signup page of one party, and the same form embedded in an organizer's site: no
login, rate-limited per IP and per party; the page is CSRF-protected, the embedded form by a
signed form token and its Origin (parties.embed). A signup is saved at once and relayed to
Klaviyo in the background, so the visitor never waits on Klaviyo."""

from __future__ import annotations

from typing import NamedTuple

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from accounts.timezones import zone_for
from core.limits import Limit, over_limit
from core.wording import wait_text
from parties import attribution, calendar, embed, questions, services
from parties.embed import allow_framing
from parties.errors import PartyFull
from parties.forms import AttributedSignupForm, EmbeddedSignupForm, SignupForm
from parties.models import Attendee, ConsentWording, Party, Question, SignupSource
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
# The public pages' layout, and the frame's (the card filling the frame, a script sizing it).
PAGE_LAYOUT = "public/base.html"
FRAME_LAYOUT = "public/embed_base.html"


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


def _thanks_context(party: Party, attendee: Attendee | None) -> dict[str, object]:
    """What the thank-you shows; a new signup's place and its own page's link when given one."""
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
    return context


class _Pages(NamedTuple):
    """Where a signup's answers are shown: the public page's templates, or the frame's."""

    form: str
    layout: str = PAGE_LAYOUT


PUBLIC_PAGES = _Pages(form="public/signup.html")
EMBEDDED_PAGES = _Pages(form="public/embed.html", layout=FRAME_LAYOUT)


class _Registered(NamedTuple):
    # None: the honeypot was filled, and the bot gets the usual thanks for nothing.
    attendee: Attendee | None
    created: bool = False


def _closed_page(request: HttpRequest, party: Party, pages: _Pages) -> HttpResponse | None:
    """The page instead of the form when the party takes no signup now, else None."""
    context = {"party": party, "layout": pages.layout}
    if not party.signups_open:  # a cancelled party's are closed too; the page says why
        return render(request, CLOSED_TEMPLATE, context)
    if party.is_full and not party.waitlist_enabled:
        # The form comes back by itself when the organizer opens a waitlist or adds places.
        status = 409 if request.method == "POST" else 200
        return render(request, CLOSED_TEMPLATE, {**context, "problem": FULL}, status=status)
    return None


def _form_page(
    request: HttpRequest,
    party: Party,
    form: SignupForm,
    pages: _Pages,
    *,
    status: int = 200,
    **extra: object,
) -> HttpResponse:
    context = {"party": party, "form": form, "full": party.is_full, "layout": pages.layout}
    return render(request, pages.form, {**context, **extra}, status=status)


def _register(
    request: HttpRequest,
    party: Party,
    form: SignupForm,
    pages: _Pages,
    *,
    source: SignupSource,
    fresh: dict[str, str],
) -> HttpResponse | _Registered:
    """The POST of a signup form, the same wherever it is shown: both rate limits, the
    honeypot, the answers checked, the signup saved. A page to answer with, or the signup.
    `fresh`: values a form shown again must carry anew (the embedded form's token)."""
    wait = _rate_limited(request, party.slug)
    if wait:
        # Keep what they typed, without judging it: the only problem to show is the wait.
        shown = type(form)(questions=form.questions, wording=form.wording)
        shown.initial = {**shown.typed(request.POST), **fresh}
        too_many = _(
            "Too many signups from your network right now. Please try again in %(wait)s."
        ) % {"wait": wait_text(wait)}
        response = _form_page(request, party, shown, pages, status=429, too_many=too_many)
        response["Retry-After"] = str(wait)
        return response
    if request.POST.get(SignupForm.HONEYPOT, "").strip():
        # A bot filled the field people never see: it gets the usual answer, we keep nothing.
        return _Registered(None)
    if not form.is_valid():
        return _form_page(request, party, form, pages, status=400)
    try:
        attendee, created = services.attendee_register(
            party=party,
            data=form.signup_data,
            signup_source=source,
            wording=form.wording_seen(),
        )
    except PartyFull:
        # Filled up between the page and the signup: the last places went meanwhile.
        context = {"party": party, "problem": FULL, "layout": pages.layout}
        return render(request, CLOSED_TEMPLATE, context, status=409)
    except services.PartyError as error:
        context = {"party": party, "problem": str(error), "layout": pages.layout}
        return render(request, CLOSED_TEMPLATE, context)
    return _Registered(attendee, created)


def _form_parts(party: Party) -> tuple[ConsentWording, list[Question]]:
    """What a signup form of the party shows besides its fixed fields: the consent wording
    in its language, and its questions."""
    wording = services.consent_wording_current(
        organization=party.organization, language=party.language
    )
    return wording, questions.questions_asked(party)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest, slug: str) -> HttpResponse:
    party = _public_party(slug)
    closed = _closed_page(request, party, PUBLIC_PAGES)
    if closed is not None:
        return closed
    wording, asked = _form_parts(party)
    if request.method == "GET":
        # Where they come from, read now: the POST's Referer is this page. Only values found
        # go in `initial`, so a plain visit gets the blank form kept between visitors.
        came_from = {k: v for k, v in attribution.from_request(request).items() if v}
        form = AttributedSignupForm(initial=came_from, questions=asked, wording=wording)
        return _form_page(request, party, form, PUBLIC_PAGES)

    form = AttributedSignupForm(request.POST, questions=asked, wording=wording)
    outcome = _register(
        request, party, form, PUBLIC_PAGES, source=SignupSource.PUBLIC_PAGE, fresh={}
    )
    if isinstance(outcome, HttpResponse):
        return outcome
    return _thanks(party, outcome.attendee if outcome.created else None)


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
    return render(request, "public/thanks.html", _thanks_context(party, attendee))


@csrf_exempt  # no cookie reaches a frame on another site: parties.embed protects the POST
@xframe_options_exempt  # framing is the CSP's frame-ancestors (parties.embed.allow_framing)
@never_cache  # each form carries a fresh token
@require_http_methods(["GET", "POST"])
def signup_embedded(request: HttpRequest, slug: str) -> HttpResponse:
    """The signup form inside an organizer's own site (parties.embed): no cookie set or read,
    the thank-you shown in place of the form."""
    party = _public_party(slug)
    response = _embedded(request, party)
    allow_framing(response, party)
    return response


def _embedded(request: HttpRequest, party: Party) -> HttpResponse:
    closed = _closed_page(request, party, EMBEDDED_PAGES)
    if closed is not None:
        return closed
    wording, asked = _form_parts(party)
    fresh = {EmbeddedSignupForm.SIGNED_FIELD: embed.form_token(party)}
    if request.method == "GET":
        came_from = attribution.from_request(request, embedding_host=True)
        form = EmbeddedSignupForm(initial={**came_from, **fresh}, questions=asked, wording=wording)
        return _form_page(request, party, form, EMBEDDED_PAGES)

    problem = embed.origin_problem(request) or embed.form_token_problem(
        request.POST.get(EmbeddedSignupForm.SIGNED_FIELD), party
    )
    if problem:
        # Refused before anything is counted or checked; a person gets the form back, fresh.
        form = EmbeddedSignupForm(questions=asked, wording=wording)
        form.initial = {**form.typed(request.POST), **fresh}
        return _form_page(request, party, form, EMBEDDED_PAGES, status=403, refused=problem)
    # Shown again (a mistake to fix), the form carries a fresh token: this one was good.
    data = request.POST.copy()
    data[EmbeddedSignupForm.SIGNED_FIELD] = fresh[EmbeddedSignupForm.SIGNED_FIELD]
    form = EmbeddedSignupForm(data, questions=asked, wording=wording)
    outcome = _register(
        request, party, form, EMBEDDED_PAGES, source=SignupSource.EMBEDDED, fresh=fresh
    )
    if isinstance(outcome, HttpResponse):
        return outcome
    # No redirect: the thank-you cookie would not reach the frame. A reload re-posts, which
    # is the same signup again.
    attendee = outcome.attendee if outcome.created else None
    context = {**_thanks_context(party, attendee), "layout": FRAME_LAYOUT, "embedded": True}
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
