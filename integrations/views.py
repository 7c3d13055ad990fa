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

from accounts.tenancy import get_for_org_or_404, manager_required, organization_required
from integrations import selectors, services
from integrations.fields import SecretDecryptionError
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
def settings_page(request: HttpRequest) -> HttpResponse:
    connections = selectors.connections_for(organization=request.organization)
    return render(
        request,
        "integrations/settings.html",
        {
            "connections": connections,
            "connect_form": ConnectForm(),
            "scopes": selectors.requested_scopes(),
            "can_manage": request.membership.can_manage,
        },
    )


@organization_required
def connection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_for_org_or_404(
        KlaviyoConnection.objects.select_related("connected_by"),
        organization=request.organization,
        pk=pk,
    )
    return render(
        request,
        "integrations/connection_detail.html",
        {
            "connection": connection,
            "events": connection.events.select_related("actor")[:20],
            "scopes": selectors.describe_scopes(connection.scopes),
            "can_manage": request.membership.can_manage,
        },
    )


@manager_required
@require_POST
def connect(request: HttpRequest) -> HttpResponse:
    form = ConnectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The label can be at most 100 characters.")
        return redirect(SETTINGS_URL_NAME)
    authorize_url = services.connection_start(
        membership=request.membership,
        redirect_uri=redirect_uri_for(request),
        browser_nonce=browser_nonce(request),
        label=form.cleaned_data["label"],
    )
    return remember_browser_nonce(request, HttpResponseRedirect(authorize_url))


@manager_required
@require_POST
def reconnect(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_for_org_or_404(KlaviyoConnection, organization=request.organization, pk=pk)
    authorize_url = services.connection_start(
        membership=request.membership,
        redirect_uri=redirect_uri_for(request),
        browser_nonce=browser_nonce(request),
        reconnect=connection,
    )
    return remember_browser_nonce(request, HttpResponseRedirect(authorize_url))


@login_required
@require_GET
def install(request: HttpRequest) -> HttpResponse:
    """Klaviyo's Installation URL: confirm which organization to connect, then connect."""
    if request.organization is None:
        return redirect("accounts:organization_create")
    return render(
        request,
        "integrations/install.html",
        {"connect_form": ConnectForm(), "scopes": selectors.requested_scopes()},
    )


@never_cache
@login_required
@require_GET
def start(request: HttpRequest, state: str) -> HttpResponse:
    """Where a JSON API `authUrl` leads: bind the attempt to this browser, then go to Klaviyo."""
    try:
        authorize_url = services.connection_bind(
            state_value=state, user=request.user, browser_nonce=browser_nonce(request)
        )
    except services.ConnectAttemptInvalid:
        messages.error(request, "This connection attempt is no longer valid. Please start again.")
        return redirect(_settings_url(error="klaviyo_connection_failed"))
    return remember_browser_nonce(request, HttpResponseRedirect(authorize_url))


@never_cache
@no_referrer
@login_required
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
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
    except services.ConnectAttemptInvalid as error:
        logger.info("Klaviyo callback with an invalid connect attempt: %s", error.reason)
        messages.error(request, "This connection attempt is no longer valid. Please start again.")
        return redirect(_settings_url(error="klaviyo_connection_failed"))
    except services.ConnectDeclined:
        return render(request, "integrations/declined.html", {"connect_form": ConnectForm()})
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
    verb = "Reconnected" if result.reconnected else "Connected"
    messages.success(
        request, f"{verb} {connection.klaviyo_organization_name or connection.klaviyo_account_id}."
    )
    return redirect(_settings_url(connected="klaviyo"))


@manager_required
@require_http_methods(["GET", "POST"])
def disconnect(request: HttpRequest, pk: int) -> HttpResponse:
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
        messages.error(
            request,
            "This connection's tokens cannot be read with the server's current keys, so it "
            "was left as it is. Your operator has the details in the server log.",
        )
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
