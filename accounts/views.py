"""Sign-up, organizations, members and invites. Each view parses input, calls one service,
then sets a message and redirects or renders."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST

from accounts import limits, services
from accounts.forms import (
    ApiTokenForm,
    InviteForm,
    OrganizationForm,
    OrganizationSettingsForm,
    RoleForm,
    SignupForm,
    SwitchOrganizationForm,
)
from accounts.models import ApiToken, Invite, Membership, Role
from accounts.redirects import allowed_next, safe_next_url
from accounts.services import InviteError, MembershipError
from accounts.signals import klaviyo_deletion_reconnects
from accounts.tenancy import (
    AuthenticatedRequest,
    OrganizationRequest,
    get_for_org_or_404,
    manager_required,
    organization_required,
    switch_organization,
)
from core.limits import limited

INVITE_PROBLEMS = {
    InviteError.UNKNOWN: "This invite link is not valid. Check that you copied the whole link.",
    InviteError.EXPIRED: "This invite has expired. Ask the person who invited you for a new one.",
    InviteError.USED: "This invite has already been used. Log in to reach the organization.",
    InviteError.REVOKED: "This invite was withdrawn. Ask the organization for a new one.",
    InviteError.FOREIGN: (
        "This invite was sent to a different email address than the one you are logged in "
        "with. Log out and sign in with the invited address."
    ),
}

AUTH_BACKEND = "django.contrib.auth.backends.ModelBackend"


class LogoutView(auth_views.LogoutView):
    """Django's POST-only logout, telling the person it worked."""

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are logged out.")
        return response


@require_http_methods(["GET", "POST"])
@limited(
    limits.ACCOUNT_SIGNUP_PER_ADDRESS,
    limits.SIGNUP_INVITE_PER_ADDRESS,
    reason="sign-up attempts from your network",
)
def signup(request: HttpRequest) -> HttpResponse:
    invite_token = request.GET.get("invite", "")
    invite = None
    if invite_token:
        try:
            invite = services.invite_get_by_token(token=invite_token)
            services.invite_check_usable(invite=invite)
        except InviteError as error:
            return _invite_problem(request, error)

    form = SignupForm(request.POST or None, invite_email=invite.email if invite else None)
    if request.method == "POST" and form.is_valid():
        if invite is not None:
            try:
                user = services.user_signup_with_invite(
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password1"],
                    invite=invite,
                )
            except InviteError as error:
                return _invite_problem(request, error)
            welcome = f"Welcome to {invite.organization.name}."
        else:
            user = services.user_signup(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                organization_name=form.cleaned_data["organization_name"],
                time_zone=form.cleaned_data["time_zone"],
            )
            welcome = "Your account and organization are ready."
        login(request, user, backend=AUTH_BACKEND)
        if invite is not None:
            switch_organization(request, invite.organization)
        messages.success(request, welcome)
        return redirect(safe_next_url(request))
    # Kept through the form, so someone sent to log in (say, from Klaviyo's install link)
    # who signs up instead still lands where they were going.
    context = {"form": form, "invite": invite, "next": allowed_next(request)}
    return render(request, "accounts/signup.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def organization_create(request: AuthenticatedRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = services.organization_create(
            owner=request.user,
            name=form.cleaned_data["name"],
            time_zone=form.cleaned_data["time_zone"],
        )
        switch_organization(request, organization)
        messages.success(request, f"Created {organization.name}. You are its owner.")
        return redirect("home")
    return render(request, "accounts/organization_form.html", {"form": form})


@manager_required
@require_http_methods(["GET", "POST"])
def organization_settings(request: OrganizationRequest) -> HttpResponse:
    """The organization's name, time zone, default reminders, marketing consent wording, the
    sites that may embed its signup forms (owners and admins) and Klaviyo deletion (owners;
    admins see it)."""
    organization = request.organization
    deletion_was_on = organization.klaviyo_deletion_enabled
    form = OrganizationSettingsForm(
        request.POST or None,
        initial={
            "name": organization.name,
            "time_zone": organization.time_zone,
            "reminder_hours": organization.reminder_hours,
            "marketing_consent_text": organization.marketing_consent_text,
            "attendee_retention_days": organization.attendee_retention_days,
            "embed_origins": organization.embed_origins,
            "klaviyo_deletion_enabled": deletion_was_on,
        },
        may_change_deletion=request.membership.role == Role.OWNER,
    )
    if request.method == "POST" and form.is_valid():
        services.organization_update(
            organization=organization,
            actor=request.membership,
            name=form.cleaned_data["name"],
            time_zone=form.cleaned_data["time_zone"],
            # Left empty: no reminders unless a party sets its own.
            reminder_hours=form.cleaned_data["reminder_hours"] or [],
            marketing_consent_text=form.cleaned_data["marketing_consent_text"],
            embed_origins=form.cleaned_data["embed_origins"],
            klaviyo_deletion_enabled=form.cleaned_data["klaviyo_deletion_enabled"],
        )
        services.organization_retention_set(
            organization=organization,
            actor=request.membership,
            days=form.cleaned_data["attendee_retention_days"],
        )
        reconnects = (
            klaviyo_deletion_reconnects(organization=organization)
            if organization.klaviyo_deletion_enabled and not deletion_was_on
            else []
        )
        if reconnects:
            messages.success(
                request,
                format_html(
                    "Saved the organization's settings. For erasure to ask Klaviyo to delete "
                    'profiles, reconnect {} on the <a href="{}">Integrations page</a> to grant '
                    "Partyline data-privacy:write.",
                    ", ".join(reconnects),
                    reverse("integrations:settings"),
                ),
            )
        else:
            messages.success(request, "Saved the organization's settings.")
        return redirect("accounts:organization_settings")
    status = 400 if form.is_bound else 200
    return render(request, "accounts/organization_settings.html", {"form": form}, status=status)


@login_required
@require_POST
def organization_switch(request: AuthenticatedRequest) -> HttpResponse:
    form = SwitchOrganizationForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an organization to switch to.")
        return redirect("home")
    membership = get_object_or_404(
        Membership.objects.select_related("organization"),
        user=request.user,
        organization_id=form.cleaned_data["organization"],
    )
    switch_organization(request, membership.organization)
    messages.success(request, f"You are now working in {membership.organization.name}.")
    # The switcher sends the page it sits on when that page is not one organization's object.
    return redirect(safe_next_url(request))


def _render_members(
    request: OrganizationRequest, invite_form: InviteForm, status: int = 200
) -> HttpResponse:
    organization = request.organization
    actor = request.membership
    memberships = organization.memberships.select_related("user").order_by("user__email")
    context = {
        "member_rows": [
            (membership, services.may_manage_role(actor=actor, role=membership.role))
            for membership in memberships
        ],
        "sole_owner": services.membership_is_last_owner(membership=actor),
        "invites": organization.invites.pending().select_related("invited_by"),
        "invite_form": invite_form,
        "roles": Role.choices,
    }
    return render(request, "accounts/members.html", context, status=status)


@organization_required
def member_list(request: OrganizationRequest) -> HttpResponse:
    form = InviteForm(organization=request.organization, actor=request.membership)
    return _render_members(request, form)


@manager_required
@require_POST
def invite_create(request: OrganizationRequest) -> HttpResponse:
    organization = request.organization
    form = InviteForm(request.POST, organization=organization, actor=request.membership)
    if not form.is_valid():
        return _render_members(request, form, status=400)
    invite, token = services.invite_create(
        organization=organization,
        email=form.cleaned_data["email"],
        role=form.cleaned_data["role"],
        invited_by=request.membership,
    )
    accept_url = request.build_absolute_uri(reverse("accounts:invite_accept", args=[token]))
    services.invite_send_email(invite=invite, accept_url=accept_url)
    messages.success(
        request, f"Invite sent to {invite.email}. The link works for one person, once."
    )
    return redirect("accounts:member_list")


@manager_required
@require_POST
def invite_revoke(request: OrganizationRequest, pk: int) -> HttpResponse:
    invite = get_for_org_or_404(Invite, organization=request.organization, pk=pk)
    try:
        services.invite_revoke(invite=invite, actor=request.membership)
    except MembershipError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"The invite for {invite.email} was withdrawn.")
    return redirect("accounts:member_list")


@require_http_methods(["GET", "POST"])
@limited(limits.INVITE_PER_ADDRESS, reason="invite link visits from your network")
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invite = services.invite_get_by_token(token=token)
        services.invite_check_usable(invite=invite)
    except InviteError as error:
        return _invite_problem(request, error)

    if request.user.is_authenticated and request.method == "POST":
        try:
            membership = services.invite_accept(invite=invite, user=request.user)
        except InviteError as error:
            return _invite_problem(request, error)
        switch_organization(request, membership.organization)
        messages.success(request, f"You joined {membership.organization.name}.")
        return redirect("home")

    if request.user.is_authenticated:
        try:
            services.invite_check_usable(invite=invite, email=request.user.email)
        except InviteError as error:
            return _invite_problem(request, error)
    return render(request, "accounts/invite.html", {"invite": invite, "token": token})


def _invite_problem(request: HttpRequest, error: InviteError) -> HttpResponse:
    status = 404 if error.reason == InviteError.UNKNOWN else 410
    if error.reason == InviteError.FOREIGN:
        status = 403
    return render(
        request,
        "accounts/invite_problem.html",
        {"problem": INVITE_PROBLEMS[error.reason], "reason": error.reason},
        status=status,
    )


@manager_required
@require_POST
def member_change_role(request: OrganizationRequest, pk: int) -> HttpResponse:
    membership = get_for_org_or_404(
        Membership.objects.select_related("user"), organization=request.organization, pk=pk
    )
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, admin, member or door staff.")
        return redirect("accounts:member_list")
    try:
        services.membership_change_role(
            membership=membership, role=form.cleaned_data["role"], actor=request.membership
        )
    except MembershipError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, f"{membership.user.email} is now {membership.get_role_display().lower()}."
        )
    return redirect("accounts:member_list")


@organization_required
@require_http_methods(["GET", "POST"])
def member_remove(request: OrganizationRequest, pk: int) -> HttpResponse:
    membership = get_for_org_or_404(
        Membership.objects.select_related("user"), organization=request.organization, pk=pk
    )
    leaving = membership.pk == request.membership.pk
    if request.method == "POST":
        try:
            services.membership_remove(membership=membership, actor=request.membership)
        except MembershipError as error:
            messages.error(request, str(error))
            return redirect("accounts:member_list")
        if leaving:
            messages.success(request, f"You left {request.organization.name}.")
            return redirect("home")
        messages.success(request, f"{membership.user.email} was removed.")
        return redirect("accounts:member_list")
    if not leaving and not request.membership.can_manage:
        raise PermissionDenied("Only owners and admins can remove members.")
    if leaving and services.membership_is_last_owner(membership=membership):
        messages.error(request, services.LAST_OWNER_CANNOT_LEAVE)
        return redirect("accounts:member_list")
    return render(
        request, "accounts/member_remove.html", {"target": membership, "leaving": leaving}
    )


PERIODS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def _rate_text(rate: str) -> str:
    """A rate setting in words: "120/m" -> "120 requests a minute", "5/15m" -> "... per 15
    minutes" (config.env.rate has checked its shape)."""
    count, _, period = rate.partition("/")
    number, unit = period[:-1], PERIODS[period[-1]]
    requests = "request" if count == "1" else "requests"
    if number and number != "1":
        return f"{count} {requests} per {number} {unit}s"
    return f"{count} {requests} a{'n' if unit == 'hour' else ''} {unit}"


@organization_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: OrganizationRequest) -> HttpResponse:
    """The user's personal API tokens for this organization; a new token is shown once."""
    form = ApiTokenForm(request.POST or None)
    new_token = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            token, new_token = services.api_token_create(
                membership=request.membership, name=form.cleaned_data["name"]
            )
            messages.success(
                request,
                f"Created the token “{token.name}”. Copy it now: it will not be shown again.",
            )
            form = ApiTokenForm()
        else:
            status = 400
    tokens = ApiToken.objects.active().filter(user=request.user, organization=request.organization)
    accounts_path = reverse("integrations:api_accounts")
    context = {
        "form": form,
        "tokens": tokens,
        "new_token": new_token,
        # The documentation's example uses this very server's address.
        "api_accounts_url": request.build_absolute_uri(accounts_path),
        "api_accounts_path": accounts_path,
        "api_connect_path": reverse("integrations:api_connect_klaviyo"),
        "api_rate": _rate_text(settings.API_RATE_PER_TOKEN),
    }
    response = render(request, "accounts/api_tokens.html", context, status=status)
    if new_token:
        response["Cache-Control"] = "no-store"
    return response


@organization_required
@require_POST
def api_token_revoke(request: OrganizationRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(
        ApiToken.objects.active(), pk=pk, user=request.user, organization=request.organization
    )
    services.api_token_revoke(token=token)
    messages.success(request, f"Revoked the token “{token.name}”. It no longer works.")
    return redirect("accounts:api_tokens")
