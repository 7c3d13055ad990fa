"""Integrations settings pages and the OAuth connect / callback / disconnect flow."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Membership
from accounts.tenancy import (
    AuthenticatedRequest,
    OrganizationRequest,
    get_for_org_or_404,
    manager_required,
    organization_required,
    refuse_door_staff,
    switch_organization,
)
from integrations import attempts, selectors, services
from integrations.fields import OPERATOR_MUST_FIX_KEYS, SecretDecryptionError
from integrations.flow import (
    BROWSER_NONCE_COOKIE,
    browser_nonce,
    redirect_uri_for,
    remember_browser_nonce,
)
from integrations.forms import ConnectForm
from integrations.klaviyo.errors import (
    KlaviyoError,
    KlaviyoInvalidClient,
    KlaviyoInvalidGrant,
)
from integrations.models import ConnectionStatus, KlaviyoConnection

logger = logging.getLogger(__name__)

SETTINGS_URL_NAME = "integrations:settings"


def _settings_url(**params: str) -> str:
    url = reverse(SETTINGS_URL_NAME)
    return f"{url}?{urlencode(params)}" if params else url


def no_referrer(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The callback URL carries a code and a state: never leak it through a Referer."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapped


@organization_required
def settings_page(request: OrganizationRequest) -> HttpResponse:
    connections = selectors.connections_for(organization=request.organization)
    return render(
        request,
        "integrations/settings.html",
        {
            "health_rows": selectors.connections_health(connections=list(connections)),
            "connect_form": ConnectForm(),
            "scopes": selectors.requested_scopes(organization=request.organization),
            "can_manage": request.membership.can_manage,
            "revision": selectors.api_revision(),
        },
    )


@organization_required
def connection_detail(request: OrganizationRequest, pk: int) -> HttpResponse:
    connection = get_for_org_or_404(
        KlaviyoConnection.objects.select_related("connected_by", "organization"),
        organization=request.organization,
        pk=pk,
    )
    return render(
        request,
        "integrations/connection_detail.html",
        {
            "connection": connection,
            "health": selectors.connections_health(connections=[connection])[0],
            "events": connection.events.select_related("actor")[:20],
            "scopes": selectors.describe_scopes(connection.scopes),
            "can_manage": request.membership.can_manage,
        },
    )


@manager_required
@require_POST
def connect(request: OrganizationRequest) -> HttpResponse:
    form = ConnectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The label can be at most 100 characters.")
        return redirect(SETTINGS_URL_NAME)
    authorize_url = attempts.attempt_start(
        membership=request.membership,
        redirect_uri=redirect_uri_for(request),
        browser_nonce=browser_nonce(request),
        label=form.cleaned_data["label"],
    )
    return remember_browser_nonce(request, HttpResponseRedirect(authorize_url))


@login_required
@require_http_methods(["GET", "POST"])
def reconnect(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """GET: the page a needs-reconnect email links to; POST: on to Klaviyo's consent page."""
    if request.method == "GET":
        _act_for_organization_of(request, connection_pk=pk)
    return _reconnect(request, pk)


def _act_for_organization_of(request: AuthenticatedRequest, *, connection_pk: int) -> None:
    """An emailed link may be for another of the user's organizations: switch to it. Someone
    outside the connection's organization stays where they are (and gets the usual 404)."""
    membership = (
        Membership.objects.select_related("organization")
        .filter(user=request.user, organization__klaviyo_connections__pk=connection_pk)
        .first()
    )
    if membership is not None and membership.organization != request.organization:
        switch_organization(request, membership.organization)
        request.membership = membership
        request.organization = membership.organization


@manager_required
def _reconnect(request: OrganizationRequest, pk: int) -> HttpResponse:
    connection = get_for_org_or_404(
        KlaviyoConnection.objects.select_related("organization"),
        organization=request.organization,
        pk=pk,
    )
    if request.method == "GET":
        return render(
            request,
            "integrations/reconnect.html",
            {
                "connection": connection,
                "scopes": selectors.requested_scopes(organization=request.organization),
                "events_waiting_reason": selectors.events_waiting_reason(connection),
                "deletion_waiting_reason": selectors.deletion_waiting_reason(connection),
            },
        )
    authorize_url = attempts.attempt_start(
        membership=request.membership,
        redirect_uri=redirect_uri_for(request),
        browser_nonce=browser_nonce(request),
        reconnect=connection,
    )
    return remember_browser_nonce(request, HttpResponseRedirect(authorize_url))


@login_required
@require_GET
def install(request: AuthenticatedRequest) -> HttpResponse:
    """Klaviyo's Installation URL: confirm which organization to connect, then connect."""
    if request.organization is None:
        return redirect("accounts:organization_create")
    refuse_door_staff(request)
    return render(
        request,
        "integrations/install.html",
        {
            "connect_form": ConnectForm(),
            "scopes": selectors.requested_scopes(organization=request.organization),
        },
    )


@never_cache
@login_required
@require_GET
def start(request: AuthenticatedRequest, state: str) -> HttpResponse:
    """Where a JSON API `authUrl` leads: bind the attempt to this browser, then go to Klaviyo."""
    try:
        authorize_url = attempts.attempt_bind(
            state_value=state, user=request.user, browser_nonce=browser_nonce(request)
        )
    except attempts.ConnectAttemptInvalid:
        messages.error(request, "This connection attempt is no longer valid. Please start again.")
        return redirect(_settings_url(error="klaviyo_connection_failed"))
    except SecretDecryptionError:
        return _server_keys_problem(request, "bound")
    return remember_browser_nonce(request, HttpResponseRedirect(authorize_url))


def _server_keys_problem(request: HttpRequest, step: str) -> HttpResponse:
    """A connect attempt whose stored PKCE verifier the server's keys cannot open."""
    logger.error(
        "A Klaviyo connect attempt could not be %s: its PKCE verifier cannot be decrypted with "
        "SECRET_KEY, SECRET_KEY_FALLBACKS and SALT_KEY. Nothing was sent to Klaviyo.",
        step,
    )
    messages.error(request, OPERATOR_MUST_FIX_KEYS)
    return redirect(_settings_url(error="server_keys"))


@never_cache
@no_referrer
@login_required
@require_GET
def callback(request: AuthenticatedRequest) -> HttpResponse:
    """Klaviyo sends the browser back here with `code` and `state`, or with an `error`."""
    params = request.GET
    try:
        result = services.connection_complete(
            user=request.user,
            browser_nonce=request.COOKIES.get(BROWSER_NONCE_COOKIE),
            state_value=params.get("state", ""),
            code=params.get("code", ""),
            error=params.get("error", ""),
        )
    except attempts.ConnectAttemptInvalid as error:
        logger.info("Klaviyo callback with an invalid connect attempt: %s", error.reason)
        messages.error(request, "This connection attempt is no longer valid. Please start again.")
        return redirect(_settings_url(error="klaviyo_connection_failed"))
    except attempts.ConnectDeclined:
        return render(request, "integrations/declined.html", {"connect_form": ConnectForm()})
    except SecretDecryptionError:
        return _server_keys_problem(request, "completed")
    except KlaviyoInvalidGrant:
        messages.error(
            request,
            "Klaviyo did not accept this connection attempt (it may have taken too long). "
            "Please start again.",
        )
        return redirect(_settings_url(error="klaviyo_connection_failed"))
    except KlaviyoInvalidClient as error:
        logger.error(
            "Klaviyo rejected the app's credentials or redirect URI (%s): check "
            "KLAVIYO_CLIENT_ID, KLAVIYO_CLIENT_SECRET and KLAVIYO_REDIRECT_URI",
            error,
        )
        messages.error(
            request,
            "Partyline's Klaviyo app is misconfigured, so Klaviyo refused the connection. "
            "Your operator has the details in the server log.",
        )
        return redirect(_settings_url(error="klaviyo_misconfigured"))
    except KlaviyoError as error:
        logger.warning("Klaviyo unreachable during the OAuth callback: %s", error)
        messages.error(
            request,
            "Klaviyo could not be reached to finish connecting. Please try again in a few minutes.",
        )
        return redirect(_settings_url(error="klaviyo_unavailable"))

    connection = result.connection
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        messages.warning(
            request,
            f"{connection.klaviyo_organization_name or connection.klaviyo_account_id} cannot be "
            f"used yet. {connection.last_error}",
        )
        return redirect(_settings_url(error="klaviyo_scopes_missing"))
    asked = result.reconnect_requested
    if asked is not None and asked.pk != connection.pk:
        if asked.klaviyo_account_id == connection.klaviyo_account_id:
            messages.success(
                request,
                f"Reconnected {connection.display_name}, through this organization's live "
                "connection to that Klaviyo account; the disconnected row stays as it was.",
            )
            return redirect(_settings_url(connected="klaviyo"))
        # Another account was chosen on Klaviyo's page: it is connected, the one being
        # reconnected is not, and the organizer must not think otherwise.
        if asked.status == ConnectionStatus.REVOKED:
            state = "disconnected"
        elif asked.status == ConnectionStatus.NEEDS_RECONNECT:
            state = "broken"
        else:  # active, reconnected to grant the scopes its lifecycle events wait for
            state = "without the permissions its lifecycle events wait for"
        messages.warning(
            request,
            f"You chose {connection.display_name} on Klaviyo's page, not {asked.display_name}: "
            f"{connection.display_name} is "
            f"{'connected again' if result.reconnected else 'now connected as a new connection'}"
            f", and {asked.display_name} is still {state}. To fix it, click Reconnect on its "
            f"row and choose {asked.klaviyo_organization_name or asked.klaviyo_account_id} "
            "on Klaviyo's page.",
        )
        return redirect(_settings_url(connected="klaviyo"))
    verb = "Reconnected" if result.reconnected else "Connected"
    messages.success(
        request, f"{verb} {connection.klaviyo_organization_name or connection.klaviyo_account_id}."
    )
    return redirect(_settings_url(connected="klaviyo"))


@manager_required
@require_http_methods(["GET", "POST"])
def disconnect(request: OrganizationRequest, pk: int) -> HttpResponse:
    connection = get_for_org_or_404(KlaviyoConnection, organization=request.organization, pk=pk)
    if connection.status == ConnectionStatus.REVOKED:
        messages.info(request, f"{connection.display_name} is already disconnected.")
        return redirect(SETTINGS_URL_NAME)
    if request.method == "GET":
        return render(request, "integrations/disconnect.html", {"connection": connection})
    try:
        confirmed = services.connection_disconnect(connection=connection, actor=request.user)
    except SecretDecryptionError:
        logger.exception("Cannot disconnect Klaviyo connection %s", connection.pk)
        messages.error(request, f"This connection was left as it is. {OPERATOR_MUST_FIX_KEYS}")
        return redirect("integrations:connection_detail", pk=connection.pk)
    if confirmed:
        messages.success(
            request,
            f"Disconnected {connection.display_name}. Partyline's app was removed from that "
            "Klaviyo account and its tokens were erased.",
        )
    else:
        messages.warning(
            request,
            f"Disconnected {connection.display_name} and erased its tokens here, but Klaviyo "
            "could not confirm the app was removed. Check Integrations in Klaviyo and remove "
            "Partyline there if it is still listed.",
        )
    return redirect(SETTINGS_URL_NAME)
