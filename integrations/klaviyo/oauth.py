"""Every OAuth 2.0 protocol decision for Klaviyo, in one module.

The authorize URL (with PKCE), the code exchange, the refresh and the revoke. These functions
make exactly one HTTP request each and never retry: an authorization code is single-use
(RFC 6749 section 4.1.2), and whether a failed refresh may be tried again is for the token
store to decide, since Klaviyo allows at most 10 refreshes per minute per installation.

No token, code, verifier, client secret or body is ever logged or put in an exception, and
each token, code and verifier is remembered for the log filter (integrations.klaviyo.redaction).
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from integrations.klaviyo.config import KlaviyoConfig
from integrations.klaviyo.errors import (
    KlaviyoError,
    KlaviyoInvalidClient,
    KlaviyoInvalidGrant,
    KlaviyoOAuthError,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
    redact,
    retry_after_seconds,
)
from integrations.klaviyo.redaction import remember_secret

logger = logging.getLogger(__name__)

# Klaviyo's access tokens live an hour; used only if a response leaves `expires_in` out
# (RFC 6749 section 5.1 makes it RECOMMENDED, not REQUIRED).
DEFAULT_EXPIRES_IN = 3600
# Klaviyo refreshes are limited per minute; without a Retry-After, wait out the window.
DEFAULT_TOKEN_RETRY_AFTER = 60.0

# RFC 6749 section 5.2 codes that mean the app itself is misconfigured, not the grant.
_CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


@dataclass(frozen=True)
class TokenResponse:
    """A successful token response (RFC 6749 section 5.1).

    `refresh_token` is None when the server did not issue one (section 6: the server "MAY
    issue a new refresh token"): keep the one you have. `scopes` is empty after a refresh that
    did not restate them (section 5.1: "OPTIONAL, if identical to the scope requested"): keep
    the stored scopes.
    """

    access_token: str
    refresh_token: str | None
    expires_in: int
    scopes: tuple[str, ...]
    token_type: str

    def __repr__(self) -> str:
        refresh = None if self.refresh_token is None else "'***'"
        return (
            f"TokenResponse(access_token='***', refresh_token={refresh}, "
            f"expires_in={self.expires_in}, scopes={self.scopes!r}, "
            f"token_type={self.token_type!r})"
        )

    __str__ = __repr__


def build_authorize_url(
    *,
    config: KlaviyoConfig,
    state: str,
    code_challenge: str,
    redirect_uri: str,
    account_hint: str = "",
) -> str:
    """The URL to send the browser to (RFC 6749 section 4.1.1 with RFC 7636 section 4.3).

    `redirect_uri` must be byte-for-byte the one sent again in `exchange_code` (section 4.1.3:
    "their values MUST be identical") and allowlisted in the Klaviyo app. Scopes are
    space-delimited (section 3.3) and percent-encoded as %20, so nothing depends on a server
    reading "+" as a space.

    `account_hint`, the Klaviyo account id being reconnected, lets the sandbox preselect it on
    its consent page; Klaviyo ignores it (section 3.1: "The authorization server MUST ignore
    unrecognized request parameters").
    """
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(config.scopes),
        "state": state,
        "code_challenge_method": "S256",
        "code_challenge": code_challenge,
    }
    if account_hint:
        params["account_hint"] = account_hint
    query = urlencode(params, quote_via=quote)
    separator = "&" if urlsplit(config.authorize_url).query else "?"
    return f"{config.authorize_url}{separator}{query}"


def exchange_code(
    *, config: KlaviyoConfig, code: str, code_verifier: str, redirect_uri: str
) -> TokenResponse:
    """Trade an authorization code for tokens (RFC 6749 section 4.1.3, RFC 7636 section 4.5).

    Not retried: the code is single-use, and after a timeout it may already be spent, so the
    user starts over. `invalid_grant` means the code expired (Klaviyo: 5 minutes), was used,
    or the verifier did not match.
    """
    remember_secret(code, code_verifier)
    response = _post(
        config=config,
        url=config.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": code_verifier,
            "redirect_uri": redirect_uri,
        },
    )
    return _token_response(
        response,
        secrets=(code, code_verifier, config.client_secret),
        default_scopes=config.scopes,
        sent_redirect_uri=True,
    )


def refresh(*, config: KlaviyoConfig, refresh_token: str) -> TokenResponse:
    """A new access token for a refresh token (RFC 6749 section 6).

    `KlaviyoInvalidGrant` means the refresh token is dead (app uninstalled, revoked, 90 days
    unused): the connection needs reconnecting. `KlaviyoRateLimited` means Klaviyo's refresh
    limit (10 per minute per installation) is spent: existing access tokens stay valid.
    """
    response = _post(
        config=config,
        url=config.token_url,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )
    return _token_response(
        response, secrets=(refresh_token, config.client_secret), default_scopes=()
    )


def revoke(
    *,
    config: KlaviyoConfig,
    token: str,
    token_type_hint: str = "refresh_token",  # noqa: S107 (the RFC 7009 hint, not a secret)
) -> None:
    """Revoke a token (RFC 7009 section 2.1); revoking the refresh token uninstalls the app.

    Section 2.2: "invalid tokens do not cause an error response", so a 200 is success whether
    or not the token was still alive, and the body (if any) is ignored.
    """
    response = _post(
        config=config,
        url=config.revoke_url,
        data={"token": token, "token_type_hint": token_type_hint},
    )
    # Any other answer, a redirect included, leaves the token alive: say so.
    if not 200 <= response.status_code < 300:
        raise _token_error(response, secrets=(token, config.client_secret))


# --- HTTP ---------------------------------------------------------------------------------------


def _basic_auth(config: KlaviyoConfig) -> str:
    # RFC 6749 section 2.3.1 client authentication, in the exact form Klaviyo's own samples
    # send: base64 of "client_id:client_secret".
    raw = f"{config.client_id}:{config.client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _post(*, config: KlaviyoConfig, url: str, data: dict[str, str]) -> requests.Response:
    """POST a form to the token or revoke endpoint; transport failures become Unavailable."""
    path = urlsplit(url).path
    grant = data.get("grant_type", "revoke")
    started = time.monotonic()
    try:
        response = requests.post(
            url,
            data=data,
            headers={
                "Authorization": _basic_auth(config),
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            timeout=config.timeout,
            # A redirect would resend the form (with the code or token) somewhere else.
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        _log(path=path, grant=grant, status=None, started=started)
        raise KlaviyoUnavailable(detail=f"{path} timed out after {config.timeout:g}s") from exc
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        _log(path=path, grant=grant, status=None, started=started)
        # The exception text can include the URL but never the form; name only its class.
        raise KlaviyoUnavailable(detail=f"{path} unreachable ({type(exc).__name__})") from exc
    _log(path=path, grant=grant, status=response.status_code, started=started)
    return response


def _log(*, path: str, grant: str, status: int | None, started: float) -> None:
    duration_ms = round((time.monotonic() - started) * 1000)
    logger.info(
        "klaviyo oauth POST %s grant=%s status=%s duration_ms=%d",
        path,
        grant,
        status,
        duration_ms,
        extra={
            "http_method": "POST",
            "http_path": path,
            "http_status": status,
            "duration_ms": duration_ms,
            "oauth_grant": grant,
        },
    )


def _json(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _token_response(
    response: requests.Response,
    *,
    secrets: tuple[str, ...],
    default_scopes: tuple[str, ...],
    sent_redirect_uri: bool = False,
) -> TokenResponse:
    if response.status_code != 200:
        raise _token_error(response, secrets=secrets, sent_redirect_uri=sent_redirect_uri)
    body = _json(response) or {}
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        # A 200 without a token is a proxy or an outage page, not a verdict on the grant.
        raise KlaviyoUnavailable(status=200, detail="token endpoint returned no access token")
    refresh_token = body.get("refresh_token") or None
    remember_secret(access_token, refresh_token if isinstance(refresh_token, str) else None)
    scope = body.get("scope")
    try:
        expires_in = int(body.get("expires_in") or DEFAULT_EXPIRES_IN)
    except (TypeError, ValueError):
        expires_in = DEFAULT_EXPIRES_IN
    return TokenResponse(
        access_token=access_token,
        refresh_token=refresh_token if isinstance(refresh_token, str) else None,
        expires_in=expires_in,
        scopes=tuple(scope.split()) if isinstance(scope, str) and scope else default_scopes,
        token_type=str(body.get("token_type") or "Bearer"),
    )


def _token_error(
    response: requests.Response, *, secrets: tuple[str, ...], sent_redirect_uri: bool = False
) -> KlaviyoError:
    """Map a failed token or revoke response to our hierarchy.

    Status decides first: a 429 is Klaviyo's refresh limit whatever the body says (so it is
    never mistaken for a dead grant), and 5xx or a non-JSON page (a 403 challenge from a proxy)
    is an outage. Otherwise the RFC 6749 section 5.2 `error` code decides.
    """
    status = response.status_code
    if status == 429:
        retry_after = retry_after_seconds(response.headers)
        return KlaviyoRateLimited(
            retry_after=DEFAULT_TOKEN_RETRY_AFTER if retry_after is None else retry_after,
            code="rate_limited",
            detail="token endpoint rate limit reached",
        )
    body = _json(response)
    if status >= 500 or body is None:
        return KlaviyoUnavailable(status=status, detail="token endpoint returned no usable error")

    error, description = body.get("error"), body.get("error_description")
    if error is None and isinstance(body.get("errors"), list) and body["errors"]:
        # Tolerate a JSON:API error document in place of the RFC shape.
        first = body["errors"][0] if isinstance(body["errors"][0], dict) else {}
        error, description = first.get("code"), first.get("detail")
    error = str(error) if error else None
    description = redact(str(description), secrets) if description else None

    if error in _CLIENT_ERRORS or (error is None and status == 401):
        cls: type[KlaviyoOAuthError] = KlaviyoInvalidClient
    elif sent_redirect_uri and description and "redirect" in description.lower():
        # A redirect URI that is not allowlisted (or differs from the authorize request) is a
        # deployment setting to fix; RFC 6749 reports it as invalid_grant or invalid_request.
        # Only a code exchange sends one, so a refresh's invalid_grant always means reconnect.
        cls = KlaviyoInvalidClient
    elif error == "invalid_grant":
        cls = KlaviyoInvalidGrant
    else:
        cls = KlaviyoOAuthError
    return cls(error=error, error_description=description, status=status)
