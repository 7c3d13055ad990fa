"""The door's pages: the parties to check guests in at, a party's check-in page (a phone in
one hand, working offline: static/js/door.js), the guest list and search it reads, the
check-ins and undos it sends, and the walk-in form. Every role may use them, door staff
included (`door_required`); each party is fetched through the tenant door."""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from uuid import uuid4

from django.conf import settings
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.cache import get_conditional_response, patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_permissions_policy.decorators import permissions_policy_override

from accounts.tenancy import OrganizationRequest, door_required, get_for_org_or_404
from door import selectors, services
from door.forms import CheckInForm, UndoForm, WalkInForm
from door.services import DoorAnswer, Outcome, WalkInFull
from parties import services as party_services
from parties.errors import PartyError
from parties.models import Party

# The status each answer goes with: done (200), a guest not on the list (404), or a state
# the device must show instead of what it asked (409: someone else was first).
NOT_FOUND = frozenset({Outcome.UNKNOWN_GUEST})
# The camera scanner: jsQR, and the module that runs it (window.PartylineDoorScan).
SCANNER_SCRIPTS = ("js/vendor/jsqr/jsQR.js", "js/door-scan.js")


def _party(request: OrganizationRequest, pk: int) -> Party:
    return get_for_org_or_404(
        Party.objects.select_related("organization"), organization=request.organization, pk=pk
    )


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _invalid(errors: Any) -> JsonResponse:
    return JsonResponse(
        {
            "ok": False,
            "outcome": "invalid",
            "message": "The request was not understood.",
            "errors": errors,
        },
        status=400,
    )


def _answer(answer: DoorAnswer) -> JsonResponse:
    status = 200 if answer.done else 404 if answer.outcome in NOT_FOUND else 409
    guest = selectors.guest_json(answer.attendee, answer.check_in) if answer.attendee else None
    return JsonResponse(
        {"ok": answer.done, "outcome": answer.outcome, "message": answer.message, "guest": guest},
        status=status,
    )


@door_required
@require_GET
def party_list(request: OrganizationRequest) -> HttpResponse:
    """Today's and upcoming parties, each with its check-in page (door staff's home)."""
    parties = selectors.door_parties(organization=request.organization)
    return render(request, "door/party_list.html", {"parties": parties})


@door_required
@require_GET
# The scanner (static/js/door-scan.js) reads QR codes with this page's camera, which every
# other page keeps switched off.
@permissions_policy_override({**settings.PERMISSIONS_POLICY, "camera": ["self"]})
def door_page(request: OrganizationRequest, pk: int) -> HttpResponse:
    party = _party(request, pk)
    context = {
        "party": party,
        "staff_name": services.staff_name(request.user),
        "scanner_scripts": scanner_scripts(),
    }
    return render(request, "door/door.html", context)


@cache
def scanner_scripts() -> tuple[str, ...]:
    """The QR scanner's scripts, once they are part of the site (the page works without:
    door.js offers the scanner only when it loaded)."""
    return SCANNER_SCRIPTS if all(finders.find(path) for path in SCANNER_SCRIPTS) else ()


@door_required
@require_GET
@gzip_page
def guest_list(request: OrganizationRequest, pk: int) -> HttpResponse:
    """The party's guest list as the phone keeps it (compact JSON, gzip-compressed); 304
    when the phone's copy is current (If-None-Match)."""
    listing = selectors.guest_list(_party(request, pk))
    response = get_conditional_response(request, etag=listing.etag)
    if response is None:
        response = HttpResponse(listing.body, content_type="application/json")
    response["ETag"] = listing.etag
    patch_cache_control(response, private=True, no_cache=True)
    return response


@door_required
@require_GET
@never_cache
def guest_search(request: OrganizationRequest, pk: int) -> JsonResponse:
    """Guests whose names or address start with the letters typed (`q`): for a phone that
    has not loaded the list yet."""
    party = _party(request, pk)
    return JsonResponse({"guests": selectors.guests_find(party, request.GET.get("q", ""))})


@door_required
@require_POST
def check_in(request: OrganizationRequest, pk: int) -> JsonResponse:
    """A device's check-in (JSON, with the CSRF token in X-CSRFToken), applied once."""
    party = _party(request, pk)
    form = CheckInForm(_json_body(request))
    if not form.is_valid():
        return _invalid(form.errors.get_json_data())
    return _answer(
        services.checkin_record(
            party=party,
            membership=request.membership,
            client_id=form.cleaned_data["client_id"],
            attendee_id=form.cleaned_data["attendee"],
            code=form.cleaned_data["code"],
            device_time=form.device_moment,
        )
    )


@door_required
@require_POST
def check_in_undo(request: OrganizationRequest, pk: int) -> JsonResponse:
    """A device's undo of a check-in (JSON, CSRF as above), applied once."""
    party = _party(request, pk)
    form = UndoForm(_json_body(request))
    if not form.is_valid():
        return _invalid(form.errors.get_json_data())
    return _answer(
        services.checkin_undo(
            party=party,
            membership=request.membership,
            client_id=form.cleaned_data["client_id"],
            attendee_id=form.cleaned_data["attendee"],
            code=form.cleaned_data["code"],
            check_in_id=form.cleaned_data["check_in"],
        )
    )


def _posted(request: HttpRequest) -> QueryDict | None:
    return request.POST if request.method == "POST" else None


@door_required
@require_http_methods(["GET", "POST"])
def walk_in(request: OrganizationRequest, pk: int) -> HttpResponse:
    """Someone at the door who is not registered: registered with their consent, checked in."""
    party = _party(request, pk)
    back = redirect("door:door_page", pk=party.pk)
    if party.is_cancelled:
        messages.error(request, "This party was cancelled: nobody is checked in.")
        return back
    # In the language the guest reads the party in: they answer it on the staff's phone.
    wording = party_services.consent_wording_current(
        organization=request.organization, language=party.language
    )
    form = WalkInForm(
        _posted(request), wording=wording, full=party.is_full, initial={"client_id": uuid4()}
    )
    if request.method == "POST" and form.is_valid():
        try:
            walk = services.walk_in_register(
                party=party,
                membership=request.membership,
                client_id=form.cleaned_data["client_id"],
                data=form.signup_data,
                wording=form.wording_seen(),
                over_capacity=form.cleaned_data.get("over_capacity", False),
            )
        except WalkInFull as error:
            # Filled up since the form was shown: ask for the confirmation now.
            form = WalkInForm(request.POST, wording=wording, full=True)
            form.is_valid()
            form.add_error("over_capacity", str(error))
        except PartyError as error:
            messages.error(request, str(error))
            return back
        else:
            _walk_in_message(request, walk)
            return back
    status = 400 if form.is_bound else 200
    context = {
        "party": party,
        "form": form,
        "full": party.is_full or "over_capacity" in form.fields,
    }
    return render(request, "door/walk_in.html", context, status=status)


def _walk_in_message(request: HttpRequest, walk: services.WalkIn) -> None:
    answer = walk.answer
    if walk.registered_before and answer.outcome == Outcome.CHECKED_IN:
        messages.info(request, f"{walk.attendee.email} was registered already: checked in instead.")
    elif walk.registered_before:
        messages.info(request, f"{walk.attendee.email} was registered already. {answer.message}")
    elif answer.done:
        messages.success(request, f"Walk-in registered: {answer.message}")
    else:
        messages.warning(request, f"Walk-in registered, but not checked in: {answer.message}")
