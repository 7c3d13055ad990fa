"""The organizer's personal-data page (find, export, erase a person) and the attendee's own
export and erasure. Addresses travel in POST bodies only: never in a URL, so never in a log."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Role
from accounts.tenancy import OrganizationRequest, manager_required
from parties.attendee_views import manage_view
from parties.models import Attendee
from privacy import services
from privacy.forms import EraseForm, PersonForm
from privacy.models import PrivacyRecord

AUDIT_SHOWN = 50


def _zip(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _page(request: OrganizationRequest, **context: object) -> HttpResponse:
    organization = request.organization
    is_owner = request.membership.role == Role.OWNER
    context.setdefault("form", PersonForm())
    return render(
        request,
        "privacy/person.html",
        {
            "is_owner": is_owner,
            # The audit is the owners' (it names who asked, never whose data).
            "records": (
                PrivacyRecord.objects.filter(organization=organization)
                .select_related("actor")
                .prefetch_related("deletions")[:AUDIT_SHOWN]
                if is_owner
                else []
            ),
            **context,
        },
        status=400 if any(getattr(form, "errors", None) for form in context.values()) else 200,
    )


@manager_required
@require_http_methods(["GET", "POST"])
def person_find(request: OrganizationRequest) -> HttpResponse:
    """Find what Partyline holds about an address (POST: the address stays out of URLs)."""
    if request.method == "GET":
        return _page(request)
    form = PersonForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form)
    email = form.cleaned_data["email"]
    return _person(request, form, _erase_form(request, initial={"email": email}), email)


def _person(
    request: OrganizationRequest, form: PersonForm, erase_form: EraseForm, email: str
) -> HttpResponse:
    """The page with what the organization's parties hold about `email`, and its actions."""
    registrations = (
        Attendee.objects.filter(party__organization=request.organization, email=email)
        .select_related("party")
        .order_by("-created_at")
    )
    return _page(
        request, form=form, email=email, registrations=registrations, erase_form=erase_form
    )


@manager_required
@require_POST
def person_export(request: OrganizationRequest) -> HttpResponse:
    form = PersonForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form)
    archive = services.person_export(
        organization=request.organization, email=form.cleaned_data["email"], actor=request.user
    )
    return _zip(archive, f"personal-data-{timezone.localdate():%Y-%m-%d}.zip")


@manager_required
@require_POST
def person_erase(request: OrganizationRequest) -> HttpResponse:
    form = _erase_form(request, data=request.POST)
    if not form.is_valid():
        person = PersonForm(request.POST)
        if not person.is_valid():
            return _page(request, form=person)
        # Not confirmed: the same page again, the box's error beside it.
        return _person(request, person, form, person.cleaned_data["email"])
    klaviyo_delete = bool(form.cleaned_data.get("klaviyo_delete"))
    erasure = services.person_erase(
        organization=request.organization,
        email=form.cleaned_data["email"],
        actor=request.user,
        klaviyo_delete=klaviyo_delete,
    )
    n = erasure.registrations
    messages.success(
        request,
        f"Erased {n} registration{'' if n == 1 else 's'}: names, answers, consent records and "
        "private links are gone, and unsent events were dropped. They leave the parties' "
        "Klaviyo lists at the next sync; their address goes once Klaviyo shows them out.",
    )
    if klaviyo_delete and n:
        # Klaviyo has no status to read for it: what is known is when it was asked.
        messages.info(
            request,
            f"Deletion of their Klaviyo profile requested at {timezone.localtime():%H:%M}. "
            "Klaviyo runs it later and does not report back; the requests below show when "
            "Klaviyo accepted it.",
        )
    return _page(request)


def _erase_form(request: OrganizationRequest, **kwargs: object) -> EraseForm:
    return EraseForm(klaviyo_deletion=request.organization.klaviyo_deletion_enabled, **kwargs)


# --- The attendee's own ---------------------------------------------------------------------


@manage_view
@require_POST
def attendee_export(request: HttpRequest, attendee: Attendee) -> HttpResponse:
    """Their own registration's data, in one download."""
    archive = services.attendee_export(attendee=attendee)
    name = slugify(attendee.party.name) or "party"
    return _zip(archive, f"my-registration-{name}.zip")


@manage_view
@require_http_methods(["GET", "POST"])
def attendee_erase(request: HttpRequest, attendee: Attendee) -> HttpResponse:
    """Ask, then erase their own registration: its page stops working, so the answer is a
    page of its own."""
    party = attendee.party
    if request.method == "GET":
        return render(
            request, "privacy/attendee_erase.html", {"attendee": attendee, "party": party}
        )
    services.attendee_erase(attendee=attendee)
    return render(request, "privacy/attendee_erased.html", {"party": party})
