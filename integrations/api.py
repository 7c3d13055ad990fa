"""The JSON API in the shape integrators of Klaviyo's sample apps know.

Authenticated by the browser session (with CSRF on writes) or by a personal API token in
`Authorization: Bearer <token>`. Every error is JSON with the right status, never HTML.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from accounts import services as accounts_services
from accounts.models import Membership
from accounts.tenancy import DOOR_STAFF_REFUSED, TenantRequest, get_for_org_or_404
from core.api import error, too_many_requests
from core.limits import count as count_request
from integrations import attempts, services
from integrations.fields import OPERATOR_MUST_FIX_KEYS, SecretDecryptionError
from integrations.flow import browser_nonce, redirect_uri_for, remember_browser_nonce
from integrations.models import ConnectionStatus, KlaviyoConnection

logger = logging.getLogger(__name__)

ACCOUNT_NAME_MAX_LENGTH = 100


def _no_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """Run Django's CSRF check for a session-authenticated write: the view is csrf_exempt, so
    the check is handed a stand-in view that is not."""
    return CsrfViewMiddleware(_no_view).process_view(request, _no_view, (), {})


def _by_token(request: HttpRequest) -> bool:
    """Whether the call authenticates with an API token rather than the browser session:
    any Authorization header means a token (a bad one is refused, never a fallback)."""
    return bool(request.headers.get("Authorization", ""))


def api_view(
    methods: tuple[str, ...], *, manager: bool = False
) -> Callable[[Callable[..., JsonResponse]], Callable[..., HttpResponse]]:
    """Authenticate, authorize and turn every failure into a JSON error."""

    def decorate(view: Callable[..., JsonResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @never_cache
        @wraps(view)
        def wrapped(request: TenantRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = error(405, f"Use {' or '.join(methods)}.")
                response["Allow"] = ", ".join(methods)
                return response
            membership, problem = _authenticate(request)
            if membership is None:
                return error(401, problem)
            wait = count_request(
                request, group="api", rate=settings.API_RATE_PER_TOKEN, key=_caller(request)
            )
            if wait:
                return too_many_requests(wait, limit=f"{settings.API_RATE_PER_TOKEN} per token")
            if request.method not in ("GET", "HEAD") and not _by_token(request):
                failure = _csrf_failure(request)
                if failure is not None:
                    return error(403, "CSRF check failed: send the X-CSRFToken header.")
            if membership.is_door_staff:
                return error(403, DOOR_STAFF_REFUSED)
            if manager and not membership.can_manage:
                return error(403, "Only owners and admins can manage Klaviyo connections.")
            try:
                return view(request, membership, *args, **kwargs)
            except Http404:
                return error(404, "Not found.")
            except SecretDecryptionError:
                logger.exception(
                    "%s %s: a stored secret cannot be decrypted", request.method, request.path
                )
                return error(503, OPERATOR_MUST_FIX_KEYS)

        return wrapped

    return decorate


def _authenticate(request: TenantRequest) -> tuple[Membership | None, str]:
    """The membership the call acts through, or None and why not."""
    if _by_token(request):
        header = request.headers["Authorization"]
        scheme, _, raw = header.partition(" ")
        membership = None
        if scheme.lower() == "bearer" and raw.strip():
            membership = accounts_services.api_token_authenticate(raw=raw.strip())
        return membership, "The API token is unknown or revoked."
    if request.user.is_authenticated and request.membership is not None:
        return request.membership, ""
    return None, "Authentication required: log in, or send Authorization: Bearer <token>."


def _caller(request: HttpRequest) -> str:
    """Whose allowance an authenticated call spends: its API token's (by digest, so the raw
    token is kept nowhere), or for a browser session, its user's."""
    if _by_token(request):
        raw = request.headers["Authorization"].partition(" ")[2].strip()
        return "token:" + hashlib.sha256(raw.encode()).hexdigest()
    return f"user:{request.user.pk}"


def _account_json(connection: KlaviyoConnection) -> dict[str, Any]:
    return {
        "id": connection.pk,
        "platform": "klaviyo",
        "accountName": connection.label or connection.klaviyo_organization_name,
        "klaviyoAccountId": connection.klaviyo_account_id,
        "klaviyoOrganization": connection.klaviyo_organization_name,
        "status": connection.status,
        "connectedAt": connection.connected_at.isoformat(),
    }


@api_view(("GET",), manager=True)
def connect_klaviyo(request: HttpRequest, membership: Membership) -> JsonResponse:
    """`GET /api/oauth/connect/klaviyo?accountName=...` returns `{"authUrl": ...}`."""
    label = request.GET.get("accountName", "").strip()
    if len(label) > ACCOUNT_NAME_MAX_LENGTH:
        return error(400, f"accountName can be at most {ACCOUNT_NAME_MAX_LENGTH} characters.")
    if "\x00" in label:
        # Not storable in PostgreSQL's text columns, and never part of a real name.
        return error(400, "accountName cannot contain NUL characters.")
    if _by_token(request):
        # No browser session to bind to yet: the URL leads through Partyline, which binds the
        # attempt to the browser that opens it (logged in as the same user) before Klaviyo.
        attempt = attempts.attempt_prepare(
            membership=membership, redirect_uri=redirect_uri_for(request), label=label
        )
        auth_url = request.build_absolute_uri(
            reverse("integrations:klaviyo_start", args=[attempt.state])
        )
    else:
        auth_url = attempts.attempt_start(
            membership=membership,
            redirect_uri=redirect_uri_for(request),
            browser_nonce=browser_nonce(request),
            label=label,
        )
    return remember_browser_nonce(request, JsonResponse({"authUrl": auth_url}))


@api_view(("GET",))
def accounts(request: HttpRequest, membership: Membership) -> JsonResponse:
    """`GET /api/oauth/accounts` lists the organization's Klaviyo connections."""
    connections = KlaviyoConnection.objects.filter(organization=membership.organization).exclude(
        status=ConnectionStatus.REVOKED
    )
    return JsonResponse(
        {"success": True, "accounts": [_account_json(connection) for connection in connections]}
    )


@api_view(("DELETE",), manager=True)
def account_delete(request: HttpRequest, membership: Membership, pk: int) -> JsonResponse:
    """`DELETE /api/oauth/accounts/<id>` disconnects (revokes at Klaviyo, erases tokens)."""
    connection = get_for_org_or_404(KlaviyoConnection, organization=membership.organization, pk=pk)
    if connection.status == ConnectionStatus.REVOKED:
        return error(404, "Not found.")
    try:
        confirmed = services.connection_disconnect(connection=connection, actor=membership.user)
    except SecretDecryptionError:
        logger.exception("Cannot disconnect Klaviyo connection %s", connection.pk)
        return error(503, f"The connection was left as it is. {OPERATOR_MUST_FIX_KEYS}")
    message = (
        "Klaviyo account disconnected."
        if confirmed
        else "Klaviyo account disconnected here; Klaviyo did not confirm the revoke."
    )
    return JsonResponse({"success": True, "message": message, "revokeConfirmed": confirmed})


@csrf_exempt
def not_found(request: HttpRequest) -> JsonResponse:
    return error(404, "No such API endpoint.")
