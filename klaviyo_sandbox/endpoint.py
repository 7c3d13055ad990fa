"""The door every sandbox API and OAuth call walks through, in Klaviyo's order.

For the REST API: injected faults, the `revision` header, Bearer authentication, the
operation's scopes, its rate limits, then the body against the OpenAPI request schema; then
the account's jobs that are due are applied. Only then does the view run. Each call is
written to the call log (method, path, status, time and account; never a token, a query
string or a body).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.log import log_response
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from klaviyo_sandbox import clock, faults, jsonapi, ratelimit, spec
from klaviyo_sandbox.jobs import jobs_catch_up
from klaviyo_sandbox.jsonapi import ApiError, error_response
from klaviyo_sandbox.models import Account, CallLog, FaultKind, Token
from klaviyo_sandbox.oauth import access_token_authenticate
from klaviyo_sandbox.routers import DATABASE

# GA revisions Klaviyo answers to (quarterly, on the 15th), and their `.pre` betas.
KNOWN_REVISIONS = frozenset(
    f"{year}-{month:02d}-15{suffix}"
    for year in (2024, 2025, 2026)
    for month in (1, 2, 4, 5, 6, 7, 10)
    for suffix in ("", ".pre")
    if (year, month) <= (2026, 10)
)
# Options that drop a call into a slower tier (klaviyo-api-reference.md §3).
SLOWER_TIERS = {
    ("get_list", "additional-fields[list]", "profile_count"): {"burst": "1/s", "steady": "15/m"},
    ("get_profiles", "additional-fields[profile]", "predictive_analytics"): {
        "burst": "10/s",
        "steady": "150/m",
    },
    ("get_profiles_for_list", "additional-fields[profile]", "predictive_analytics"): {
        "burst": "10/s",
        "steady": "150/m",
    },
}
JSON_MEDIA_TYPES = ("application/vnd.api+json", "application/json")


@dataclass
class ApiCall:
    """What a REST view gets: the request, its operation, the caller and the parsed body."""

    request: HttpRequest
    operation: spec.Operation
    token: Token
    account: Account
    body: Any


def call_log_record(
    request: HttpRequest, *, operation: str, status: int, started: float, account_id: str
) -> None:
    root = reverse("klaviyo_sandbox:root")
    path = request.path[len(root) - 1 :] if request.path.startswith(root) else request.path
    CallLog.objects.using(DATABASE).create(
        created_at=clock.now(),
        method=request.method or "",
        path=path[:500],
        operation=operation,
        status=status,
        duration_ms=round((time.monotonic() - started) * 1000),
        account_id=account_id,
    )


def _fault_error() -> ApiError | None:
    """The injected failure to answer with, if any; slow responses just wait first."""
    active = faults.faults_active()
    if latency := active.get(FaultKind.LATENCY):
        clock.sleep(latency.delay_seconds)
    if outage := active.get(FaultKind.OUTAGE):
        seconds = faults.seconds_left(outage)
        return ApiError(
            503,
            "service_unavailable",
            "Service unavailable.",
            f"Sandbox outage: try again in {seconds} second(s).",
            headers={"Retry-After": str(seconds)},
        )
    if storm := active.get(FaultKind.THROTTLE):
        seconds = faults.seconds_left(storm)
        return _throttled(seconds)
    return None


def _log_fault(request: HttpRequest, response: HttpResponse) -> None:
    """An injected fault is the sandbox doing its job: one WARNING line for it instead of
    django.request's ERROR for a 503. (A real failure raises, and Django still logs it as an
    error with its traceback.)"""
    log_response(
        "Sandbox Klaviyo injected fault: %s %s answered %s (Retry-After %s)",
        request.method,
        request.path,
        response.status_code,
        response.get("Retry-After", "-"),
        response=response,
        request=request,
        level="warning",
    )


def _throttled(seconds: int) -> ApiError:
    return ApiError(
        429,
        "throttled",
        "Request was throttled.",
        f"Request was throttled. Expected available in {seconds} second(s).",
        headers={"Retry-After": str(seconds)},
    )


def _check_revision(request: HttpRequest) -> None:
    revision = request.headers.get("revision")
    if not revision:
        raise jsonapi.invalid("The revision header is required.", parameter="revision")
    if revision not in KNOWN_REVISIONS:
        raise jsonapi.invalid(f"Invalid revision: {revision!r}.", parameter="revision")


def _authenticate(request: HttpRequest) -> Token:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if not header or not credentials.strip():
        raise ApiError(
            401,
            "not_authenticated",
            "Authentication credentials were not provided.",
            "Missing or invalid private key.",
        )
    token = access_token_authenticate(credentials.strip()) if scheme == "Bearer" else None
    if token is None:
        raise ApiError(
            401,
            "authentication_failed",
            "Incorrect authentication credentials.",
            "Incorrect authentication credentials.",
        )
    return token


def _check_scopes(token: Token, operation: spec.Operation) -> None:
    granted = set(token.scopes.split())
    missing = [scope for scope in operation.scopes if scope not in granted]
    if missing:
        raise ApiError(
            403,
            "permission_denied",
            "You do not have permission to perform this action.",
            f"This operation needs the scope(s) {', '.join(missing)}, which the token lacks.",
        )


def _rate_limit(
    request: HttpRequest, operation: spec.Operation, token: Token
) -> ratelimit.Decision:
    limits, bucket = operation.rate_limits, operation.operation_id
    for (operation_id, parameter, value), tier in SLOWER_TIERS.items():
        if operation_id == bucket and value in jsonapi.list_param(request, parameter):
            limits, bucket = tier, f"{bucket}:{value}"
            break
    # Klaviyo gives each installed app its own quota in each account, per endpoint.
    installation = token.installation
    key = f"{installation.account_id}:{installation.client_id}:{bucket}"
    decision = ratelimit.hit(key, ratelimit.parse_limits(limits), clock.now())
    if not decision.allowed:
        raise _throttled(decision.retry_after)
    return decision


def _parse_body(request: HttpRequest, operation: spec.Operation) -> Any:
    if operation.request_schema is None:
        return None
    if request.content_type not in JSON_MEDIA_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Unsupported media type.",
            f'Unsupported media type "{request.content_type}": send application/vnd.api+json.',
        )
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise jsonapi.invalid(
            "JSON parse error: the body is not valid JSON.", pointer="/"
        ) from None
    violations = spec.validate_request_body(operation.operation_id, body)
    if violations:
        raise _BodyErrors([jsonapi.invalid(v.message, pointer=v.pointer) for v in violations])
    return body


class _BodyErrors(Exception):
    def __init__(self, errors: list[ApiError]) -> None:
        super().__init__(errors[0].detail)
        self.errors = errors


def api_endpoint(
    **operations: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Serve one REST path: `@api_endpoint(GET="get_lists", POST="create_list")`."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @never_cache
        @wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            started = time.monotonic()
            operation_id = operations.get(request.method or "", "")
            account_id = ""
            fault = None
            try:
                if not operation_id:
                    raise ApiError(
                        405,
                        "method_not_allowed",
                        "Method not allowed.",
                        f'Method "{request.method}" not allowed.',
                        headers={"Allow": ", ".join(sorted(operations))},
                    )
                operation = spec.operation(operation_id)
                if fault := _fault_error():
                    raise fault
                _check_revision(request)
                token = _authenticate(request)
                account = token.installation.account
                account_id = account.id
                _check_scopes(token, operation)
                decision = _rate_limit(request, operation, token)
                try:
                    body = _parse_body(request, operation)
                    # Jobs due by now are applied before the caller looks (jobs.py).
                    jobs_catch_up(account=account)
                    response = view(ApiCall(request, operation, token, account, body), **kwargs)
                except ApiError as error:
                    response = error_response(error)
                except _BodyErrors as errors:
                    response = error_response(*errors.errors)
                for name, value in decision.headers().items():
                    response[name] = value
            except ApiError as error:
                response = error_response(error)
            if fault is not None:
                _log_fault(request, response)
            call_log_record(
                request,
                operation=operation_id,
                status=response.status_code,
                started=started,
                account_id=account_id,
            )
            return response

        return wrapper

    return decorator


def oauth_error_response(
    error: str, description: str, status: int = 400, retry_after: int | None = None
) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="Sandbox Klaviyo"'
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


class TokenResponse(JsonResponse):
    """Tokens issued for an account: the call log names the account."""

    def __init__(self, data: dict[str, Any], *, account_id: str) -> None:
        super().__init__(data)
        self.sandbox_account_id = account_id


def oauth_endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Token and revoke: machine endpoints (no CSRF), never cached, faults applied, logged."""

    @csrf_exempt
    @never_cache
    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        fault = _fault_error()
        if fault is None:
            response = view(request)
        elif fault.status == 503:
            response = oauth_error_response(
                "temporarily_unavailable", fault.detail, 503, int(fault.headers["Retry-After"])
            )
        else:
            response = oauth_error_response(
                "throttled", fault.detail, 429, int(fault.headers["Retry-After"])
            )
        # RFC 6749 §5.1: responses carrying tokens must not be stored.
        response["Pragma"] = "no-cache"
        if fault is not None:
            _log_fault(request, response)
        call_log_record(
            request,
            operation=view.__name__,
            status=response.status_code,
            started=started,
            account_id=response.sandbox_account_id if isinstance(response, TokenResponse) else "",
        )
        return response

    return wrapper
