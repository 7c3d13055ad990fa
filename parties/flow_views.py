"""The party page's "Klaviyo flows" panel actions: asking for a fresh reading of the account's
flows (a task reads them; the page never waits on Klaviyo), and the guide to building them."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.tenancy import (
    OrganizationRequest,
    get_for_org_or_404,
    organization_required,
    refuse_door_staff,
)
from parties import services
from parties.models import Party

FLOWS_GUIDE = Path(settings.BASE_DIR) / "docs" / "klaviyo-flows.md"


@organization_required
@require_POST
def flows_refresh(request: OrganizationRequest, pk: int) -> HttpResponse:
    party = get_for_org_or_404(
        Party.objects.select_related("connection"), organization=request.organization, pk=pk
    )
    if services.flows_refresh(connection=party.connection):
        messages.info(request, "Reading the Klaviyo flows now: reload the page in a moment.")
    else:
        messages.info(request, "The Klaviyo flows are being read already.")
    return redirect(f"{reverse('parties:party_detail', args=[party.pk])}#flows")


@login_required
@require_GET
def flows_guide(request: HttpRequest) -> HttpResponse:
    """docs/klaviyo-flows.md as the repository holds it (Markdown reads well as text); an
    organizer's guide, so not for door staff."""
    refuse_door_staff(request)
    return HttpResponse(FLOWS_GUIDE.read_text(), content_type="text/plain; charset=utf-8")
