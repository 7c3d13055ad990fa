"""Leaving Partyline: an owner deletes an organization, a person deletes their account."""

from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts import services
from accounts.deletion import account_deletion_plan, organization_contents
from accounts.forms import AccountDeleteForm, OrganizationDeleteForm
from accounts.models import Membership, Role
from accounts.services import AccountDeletionRefused
from accounts.tenancy import AuthenticatedRequest

# The name of the organization just deleted, for the page that says so.
DELETED_NAME_SESSION_KEY = "partyline_deleted_organization"


def _posted(request: HttpRequest) -> QueryDict | None:
    """The form data of a POST, even an empty one (`request.POST or None` would take an empty
    confirmation for a first visit)."""
    return request.POST if request.method == "POST" else None


@login_required
@require_http_methods(["GET", "POST"])
def organization_delete(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """What deleting the organization takes with it, confirmed by typing its name (owners).

    The organization is the one in the URL, not the session's: a switch in another tab
    between this page and its confirmation cannot aim the deletion elsewhere. Another
    organization's is a 404, as everywhere; admins and members get 403.
    """
    membership = get_object_or_404(
        Membership.objects.select_related("organization"), user=request.user, organization_id=pk
    )
    if membership.role != Role.OWNER:
        raise PermissionDenied("Only owners can delete the organization.")
    organization = membership.organization
    form = OrganizationDeleteForm(_posted(request), organization=organization)
    if request.method == "POST" and form.is_valid():
        services.organization_delete(organization=organization, actor=membership)
        request.session[DELETED_NAME_SESSION_KEY] = form.cleaned_data["name"]
        return redirect("accounts:organization_deleted")
    context = {
        "organization": organization,
        "contents": organization_contents(organization),
        "form": form,
    }
    status = 400 if form.is_bound else 200
    return render(request, "accounts/organization_delete.html", context, status=status)


@login_required
@require_GET
def organization_deleted(request: AuthenticatedRequest) -> HttpResponse:
    """It is done; on to the next organization (the middleware made it current) or to
    creating a first one."""
    name = request.session.pop(DELETED_NAME_SESSION_KEY, None)
    if name is None:
        return redirect("home")
    return render(request, "accounts/organization_deleted.html", {"name": name})


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request: AuthenticatedRequest) -> HttpResponse:
    """What deleting the account does to each organization, confirmed with the password;
    refused while it would leave an organization with members and no owner."""
    form = AccountDeleteForm(_posted(request), user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_delete(user=request.user)
        except AccountDeletionRefused:
            pass  # the page below names the organizations that would be left ownerless
        else:
            logout(request)
            return redirect("accounts:account_deleted")
    plan = account_deletion_plan(user=request.user)
    status = (409 if plan.blocked_by else 400) if form.is_bound else 200
    context = {"plan": plan, "form": form}
    return render(request, "accounts/account_delete.html", context, status=status)


@require_GET
def account_deleted(request: HttpRequest) -> HttpResponse:
    """Goodbye: a public page, since the session ended with the account."""
    return render(request, "accounts/account_deleted.html")
