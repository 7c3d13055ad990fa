"""The tenant door: which organization a request acts for, and lookups scoped to it.

Every tenant page reads `request.organization` (set here from the session) and fetches rows
through `get_for_org_or_404`, so another organization's object is a 404 that does not even
confirm it exists.

The request classes below are what a view behind each door may rely on, for the type checker
(django-stubs' pattern for attributes a middleware adds): a view annotates its request with
the one its decorator guarantees. They are never instantiated; Django's request is the object.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeGuard, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.timezones import zone_for

SESSION_KEY = "partyline_organization_id"
DOOR_STAFF_REFUSED = "Door staff can use only the check-in pages."

ModelT = TypeVar("ModelT", bound=Model)
ViewParams = ParamSpec("ViewParams")
ResponseT = TypeVar("ResponseT", bound=HttpResponseBase)


class TenantRequest(HttpRequest):
    """Any request past `OrganizationMiddleware`: the membership it acts through, if any."""

    membership: Membership | None
    organization: Organization | None


class AuthenticatedRequest(TenantRequest):
    """A request behind `login_required`: a logged-in user."""

    user: User


class OrganizationRequest(AuthenticatedRequest):
    """A request behind `organization_required`: a member acting for one organization."""

    membership: Membership
    organization: Organization


def acts_for_organization(request: HttpRequest) -> TypeGuard[OrganizationRequest]:
    """Whether the request acts for an organization (the middleware found a membership)."""
    return getattr(request, "organization", None) is not None


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership the request acts through: the session's choice, else the oldest one."""
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("organization")
    chosen_id = request.session.get(SESSION_KEY)
    membership = memberships.filter(organization_id=chosen_id).first() if chosen_id else None
    if membership is None:
        membership = memberships.order_by("created_at", "pk").first()
        if membership is not None:
            request.session[SESSION_KEY] = membership.organization_id
        else:
            request.session.pop(SESSION_KEY, None)
    return membership


def switch_organization(request: HttpRequest, organization: Organization) -> None:
    """Make `organization` the one the user acts for (the caller has checked membership)."""
    request.session[SESSION_KEY] = organization.pk


class OrganizationMiddleware:
    """Set `request.membership` and `request.organization` (None for visitors), and show and
    read times in the organization's time zone.

    The operator admin stays in UTC: it shows every organization's rows. Views for a page of
    another organization (the public signup page) activate that one's zone themselves; the
    zone is reset after each request either way.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: TenantRequest) -> HttpResponseBase:
        membership = current_membership(request)
        request.membership = membership
        request.organization = membership.organization if membership else None
        if request.organization is not None and not _is_admin(request):
            timezone.activate(zone_for(request.organization.time_zone))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def _is_admin(request: HttpRequest) -> bool:
    try:
        return request.path.startswith(reverse("admin:index"))
    except NoReverseMatch:  # a URLconf without the admin
        return False


def organization_required(
    view: Callable[Concatenate[OrganizationRequest, ViewParams], ResponseT],
) -> Callable[Concatenate[HttpRequest, ViewParams], ResponseT | HttpResponse]:
    """Login and a membership: users without an organization are asked to create one. Door
    staff get 403: they see only the door's pages (`door_required`)."""
    return _organization_view(view, admit_door_staff=False)


def door_required(
    view: Callable[Concatenate[OrganizationRequest, ViewParams], ResponseT],
) -> Callable[Concatenate[HttpRequest, ViewParams], ResponseT | HttpResponse]:
    """Login and a membership of any role, door staff included: the check-in pages."""
    return _organization_view(view, admit_door_staff=True)


def _organization_view(
    view: Callable[Concatenate[OrganizationRequest, ViewParams], ResponseT],
    *,
    admit_door_staff: bool,
) -> Callable[Concatenate[HttpRequest, ViewParams], ResponseT | HttpResponse]:
    @login_required
    @wraps(view)
    def wrapped(
        request: HttpRequest, *args: ViewParams.args, **kwargs: ViewParams.kwargs
    ) -> ResponseT | HttpResponse:
        if not acts_for_organization(request):
            messages.info(request, "Create an organization (or accept an invite) to continue.")
            return redirect("accounts:organization_create")
        if not admit_door_staff:
            refuse_door_staff(request)
        return view(request, *args, **kwargs)

    return wrapped


def refuse_door_staff(request: HttpRequest) -> None:
    """403 for door staff: every organization page but the door's refuses them, whatever
    decorator it has (a page behind `login_required` alone calls this itself)."""
    membership = getattr(request, "membership", None)
    if membership is not None and membership.is_door_staff:
        raise PermissionDenied(DOOR_STAFF_REFUSED)


def manager_required(
    view: Callable[Concatenate[OrganizationRequest, ViewParams], ResponseT],
) -> Callable[Concatenate[HttpRequest, ViewParams], ResponseT | HttpResponse]:
    """Owners and admins only; a plain member gets 403."""

    @organization_required
    @wraps(view)
    def wrapped(
        request: OrganizationRequest, *args: ViewParams.args, **kwargs: ViewParams.kwargs
    ) -> ResponseT:
        if not request.membership.can_manage:
            raise PermissionDenied("Only owners and admins can do this.")
        return view(request, *args, **kwargs)

    return wrapped


def get_for_org_or_404(
    model_or_queryset: type[ModelT] | QuerySet[ModelT],
    *,
    organization: Organization,
    **lookup: Any,
) -> ModelT:
    """Fetch one tenant-owned row of `organization`, or 404 whoever else owns it."""
    queryset = (
        model_or_queryset
        if isinstance(model_or_queryset, QuerySet)
        else model_or_queryset._default_manager.all()
    )
    return get_object_or_404(queryset, organization=organization, **lookup)
