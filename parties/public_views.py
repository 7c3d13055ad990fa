"""The public signup page of one party: no login, CSRF-protected, rate-limited per IP and per
party. A signup is saved at once and relayed to Klaviyo in the background, so the visitor
never waits on Klaviyo."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_ratelimit.core import is_ratelimited

from parties import services
from parties.forms import SignupForm
from parties.models import Party

CLOSED_TEMPLATE = "public/closed.html"
TOO_MANY = "Too many signups from your network right now. Please wait a minute and try again."


def _public_party(slug: str) -> Party:
    return get_object_or_404(Party.objects.select_related("organization"), slug=slug)


def _rate_limited(request: HttpRequest, slug: str) -> bool:
    """Count this POST against the IP's and the party's limits; True when over either."""
    over_ip = is_ratelimited(
        request,
        group="signup-ip",
        key="ip",
        rate=settings.SIGNUP_RATE_PER_IP,
        increment=True,
    )
    over_party = is_ratelimited(
        request,
        group="signup-party",
        key=lambda group, request: slug,
        rate=settings.SIGNUP_RATE_PER_PARTY,
        increment=True,
    )
    return over_ip or over_party


def _thanks(party: Party) -> HttpResponseRedirect:
    # 303: the browser follows with a GET, so a reload never re-posts the form.
    return HttpResponseRedirect(reverse("parties:signup_thanks", args=[party.slug]), status=303)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest, slug: str) -> HttpResponse:
    party = _public_party(slug)
    if not party.signups_open:
        return render(request, CLOSED_TEMPLATE, {"party": party})
    organization_name = party.organization.name
    if request.method == "GET":
        form = SignupForm(organization_name=organization_name)
        return render(request, "public/signup.html", {"party": party, "form": form})

    if _rate_limited(request, slug):
        # Keep what they typed, without judging it: the only problem to show is the wait.
        typed = {name: request.POST.get(name, "") for name in SignupForm.base_fields}
        form = SignupForm(initial=typed, organization_name=organization_name)
        context = {"party": party, "form": form, "too_many": TOO_MANY}
        return render(request, "public/signup.html", context, status=429)
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
