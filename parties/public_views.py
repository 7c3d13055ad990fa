"""The public signup page of one party: no login, CSRF-protected, rate-limited per IP and per
party. A signup is saved at once and relayed to Klaviyo in the background, so the visitor
never waits on Klaviyo."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.timezones import zone_for
from core.limits import Limit, over_limit
from core.wording import wait_text
from parties import services
from parties.forms import SignupForm
from parties.models import Party

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
    "organization__time_zone",
)
TOO_MANY = "Too many signups from your network right now."
# Per client address (core.limits.client_address: the real one behind TRUSTED_PROXIES).
SIGNUP_PER_ADDRESS = Limit("signup-ip", "SIGNUP_RATE_PER_IP")


def _public_party(slug: str) -> Party:
    """The party, its times shown in its organization's time zone from here on (the tenancy
    middleware resets the zone after the request)."""
    party = get_object_or_404(
        # What the public pages show and a signup needs: fewer columns to read and build on
        # every visit of a rush (the sync's bookkeeping fields stay behind).
        Party.objects.select_related("organization").only(*PUBLIC_FIELDS),
        slug=slug,
    )
    timezone.activate(zone_for(party.organization.time_zone))
    return party


def _rate_limited(request: HttpRequest, slug: str) -> int:
    """Count this POST against the address's and the party's limits: the seconds to wait when
    over either, else 0."""
    per_party = Limit("signup-party", "SIGNUP_RATE_PER_PARTY", key=lambda _request: slug)
    return over_limit(request, SIGNUP_PER_ADDRESS, per_party)


def _thanks(party: Party) -> HttpResponseRedirect:
    # 303: the browser follows with a GET, so a reload never re-posts the form.
    return HttpResponseRedirect(reverse("parties:signup_thanks", args=[party.slug]), status=303)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest, slug: str) -> HttpResponse:
    party = _public_party(slug)
    if not party.signups_open:  # a cancelled party's are closed too; the page says why
        return render(request, CLOSED_TEMPLATE, {"party": party})
    organization_name = party.organization.name
    if request.method == "GET":
        form = SignupForm(organization_name=organization_name)
        return render(request, "public/signup.html", {"party": party, "form": form})

    wait = _rate_limited(request, slug)
    if wait:
        # Keep what they typed, without judging it: the only problem to show is the wait.
        typed = {name: request.POST.get(name, "") for name in SignupForm.base_fields}
        form = SignupForm(initial=typed, organization_name=organization_name)
        too_many = f"{TOO_MANY} Please try again in {wait_text(wait)}."
        context = {"party": party, "form": form, "too_many": too_many}
        response = render(request, "public/signup.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response
    if request.POST.get(SignupForm.HONEYPOT, "").strip():
        # A bot filled the field people never see: it gets the usual answer, we keep nothing.
        return _thanks(party)
    form = SignupForm(request.POST, organization_name=organization_name)
    if not form.is_valid():
        return render(request, "public/signup.html", {"party": party, "form": form}, status=400)
    try:
        services.attendee_register(
            party=party,
            data=form.signup_data,
            source=f"Partyline signup page for {party.name}",
        )
    except services.PartyError as error:
        return render(request, CLOSED_TEMPLATE, {"party": party, "problem": str(error)})
    return _thanks(party)


@require_GET
def signup_thanks(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "public/thanks.html", {"party": _public_party(slug)})
