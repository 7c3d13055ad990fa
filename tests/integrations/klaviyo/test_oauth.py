"""The OAuth protocol module: authorize URL, code exchange, refresh, revoke, error mapping.

Tests are named for the rule they check; the RFC clause is quoted where one applies.
"""

from __future__ import annotations

import base64
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from integrations.klaviyo.config import KlaviyoConfig
from integrations.klaviyo.errors import (
    KlaviyoInvalidClient,
    KlaviyoInvalidGrant,
    KlaviyoOAuthError,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
)
from integrations.klaviyo.oauth import (
    TokenResponse,
    build_authorize_url,
    exchange_code,
    refresh,
    revoke,
)
from tests.support.klaviyo_doubles import BASE, CLIENT_SECRET

TOKEN_URL = f"{BASE}/oauth/token"
REVOKE_URL = f"{BASE}/oauth/revoke"
REDIRECT_URI = "https://partyline.example/integrations/klaviyo/callback/?next=a b"
CODE = "AUTH-CODE-single-use"
VERIFIER = "V" * 43 + "-verifier-never-logged"
REFRESH_TOKEN = "REFRESH-TOKEN-never-logged"
SCOPE = (
    "accounts:read lists:read lists:write profiles:read profiles:write subscriptions:write "
    "events:write events:read metrics:read flows:read"
)


def token_body(**overrides: object) -> dict:
    body = {
        "access_token": "eyJ.ACCESS-never-logged",
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "NEW-REFRESH-never-logged",
        "scope": SCOPE,
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def form(call: responses.Call) -> dict[str, list[str]]:
    return parse_qs(call.request.body)


# --- Authorize URL -----------------------------------------------------------------------------


def test_authorize_url_has_pkce_s256_and_exact_redirect_uri(config: KlaviyoConfig):
    url = build_authorize_url(
        config=config, state="the-state", code_challenge="the-challenge", redirect_uri=REDIRECT_URI
    )

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == config.authorize_url
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["partyline-client"],
        # RFC 6749 section 4.1.3: the redirect_uri must be identical in the token request.
        "redirect_uri": [REDIRECT_URI],
        "scope": [SCOPE],
        "state": ["the-state"],
        "code_challenge_method": ["S256"],
        "code_challenge": ["the-challenge"],
    }


def test_authorize_url_encodes_spaces_as_percent_20(config: KlaviyoConfig):
    url = build_authorize_url(
        config=config, state="s", code_challenge="c", redirect_uri="https://x.example/cb/"
    )

    assert "scope=accounts%3Aread%20lists%3Aread" in url
    assert "+" not in url
    assert "redirect_uri=https%3A%2F%2Fx.example%2Fcb%2F" in url


def test_authorize_url_keeps_a_query_already_in_the_configured_url():
    config = KlaviyoConfig(
        client_id="id", client_secret="secret", authorize_url="https://auth.example/authorize?x=1"
    )

    url = build_authorize_url(config=config, state="s", code_challenge="c", redirect_uri="r")

    assert url.startswith("https://auth.example/authorize?x=1&response_type=code&")


# --- Token requests ----------------------------------------------------------------------------


def test_token_request_uses_basic_auth_and_form_body(config, mocked):
    mocked.post(TOKEN_URL, json=token_body())

    exchange_code(config=config, code=CODE, code_verifier=VERIFIER, redirect_uri=REDIRECT_URI)

    request = mocked.calls[0].request
    expected = base64.b64encode(f"partyline-client:{CLIENT_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(mocked.calls[0]) == {
        "grant_type": ["authorization_code"],
        "code": [CODE],
        "code_verifier": [VERIFIER],
        "redirect_uri": [REDIRECT_URI],
    }
    # Client credentials travel in the header only (RFC 6749 section 2.3.1).
    assert CLIENT_SECRET not in request.body


def test_exchange_code_returns_the_tokens(config, mocked):
    mocked.post(TOKEN_URL, json=token_body())

    tokens = exchange_code(
        config=config, code=CODE, code_verifier=VERIFIER, redirect_uri=REDIRECT_URI
    )

    assert tokens == TokenResponse(
        access_token="eyJ.ACCESS-never-logged",
        refresh_token="NEW-REFRESH-never-logged",
        expires_in=3600,
        scopes=tuple(SCOPE.split()),
        token_type="Bearer",
    )


def test_exchange_without_scope_assumes_the_requested_scopes(config, mocked):
    # RFC 6749 section 5.1: scope is "OPTIONAL, if identical to the scope requested".
    mocked.post(TOKEN_URL, json=token_body(scope=None))

    tokens = exchange_code(config=config, code=CODE, code_verifier=VERIFIER, redirect_uri="r")

    assert tokens.scopes == config.scopes


def test_exchange_code_is_not_retried_after_a_timeout(config, mocked):
    # RFC 6749 section 4.1.2: "The client MUST NOT use the authorization code more than once."
    mocked.post(TOKEN_URL, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(KlaviyoUnavailable):
        exchange_code(config=config, code=CODE, code_verifier=VERIFIER, redirect_uri="r")

    assert len(mocked.calls) == 1


def test_refresh_sends_the_refresh_token_grant(config, mocked):
    mocked.post(TOKEN_URL, json=token_body())

    tokens = refresh(config=config, refresh_token=REFRESH_TOKEN)

    assert form(mocked.calls[0]) == {
        "grant_type": ["refresh_token"],
        "refresh_token": [REFRESH_TOKEN],
    }
    assert tokens.refresh_token == "NEW-REFRESH-never-logged"


def test_refresh_response_without_refresh_token_keeps_none(config, mocked):
    # RFC 6749 section 6: the server "MAY issue a new refresh token"; if not, keep the old one.
    mocked.post(TOKEN_URL, json=token_body(refresh_token=None))

    tokens = refresh(config=config, refresh_token=REFRESH_TOKEN)

    assert tokens.refresh_token is None
    assert tokens.access_token == "eyJ.ACCESS-never-logged"


def test_refresh_response_without_scope_leaves_scopes_empty(config, mocked):
    mocked.post(TOKEN_URL, json=token_body(scope=None))

    assert refresh(config=config, refresh_token=REFRESH_TOKEN).scopes == ()


def test_missing_expires_in_defaults_to_an_hour(config, mocked):
    mocked.post(TOKEN_URL, json=token_body(expires_in=None))

    assert refresh(config=config, refresh_token=REFRESH_TOKEN).expires_in == 3600


def test_token_response_repr_hides_tokens():
    tokens = TokenResponse(
        access_token="ACCESS-x", refresh_token="REFRESH-y", expires_in=60, scopes=(), token_type="B"
    )

    assert "ACCESS-x" not in repr(tokens)
    assert "REFRESH-y" not in repr(tokens)
    assert "REFRESH-y" not in str(tokens)


def test_200_without_access_token_is_unavailable(config, mocked):
    mocked.post(TOKEN_URL, body="<html>maintenance</html>", content_type="text/html")

    with pytest.raises(KlaviyoUnavailable):
        refresh(config=config, refresh_token=REFRESH_TOKEN)


def test_token_calls_have_a_timeout(config, mocked):
    mocked.post(TOKEN_URL, json=token_body())
    mocked.post(REVOKE_URL)

    refresh(config=config, refresh_token=REFRESH_TOKEN)
    revoke(config=config, token=REFRESH_TOKEN)

    assert [call.request.req_kwargs["timeout"] for call in mocked.calls] == [7.0, 7.0]


def test_token_endpoint_redirect_is_not_followed(config, mocked):
    # Following it would resend the refresh token to wherever the redirect points.
    mocked.post(TOKEN_URL, status=307, headers={"Location": "https://elsewhere.example/token"})

    with pytest.raises(KlaviyoUnavailable):
        refresh(config=config, refresh_token=REFRESH_TOKEN)

    assert len(mocked.calls) == 1


# --- Token endpoint errors (RFC 6749 section 5.2) ----------------------------------------------


def test_invalid_grant_means_the_connection_needs_reconnecting(config, mocked):
    mocked.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "Refresh token is invalid."},
    )

    with pytest.raises(KlaviyoInvalidGrant) as caught:
        refresh(config=config, refresh_token=REFRESH_TOKEN)

    assert caught.value.error == "invalid_grant"
    assert caught.value.error_description == "Refresh token is invalid."
    assert caught.value.status == 400


def test_invalid_client_is_an_operator_problem(config, mocked):
    mocked.post(TOKEN_URL, status=401, json={"error": "invalid_client"})

    with pytest.raises(KlaviyoInvalidClient):
        refresh(config=config, refresh_token=REFRESH_TOKEN)


def test_unauthorized_client_is_an_operator_problem(config, mocked):
    mocked.post(TOKEN_URL, status=400, json={"error": "unauthorized_client"})

    with pytest.raises(KlaviyoInvalidClient):
        exchange_code(config=config, code=CODE, code_verifier=VERIFIER, redirect_uri="r")


def test_redirect_uri_mismatch_is_an_operator_problem(config, mocked):
    mocked.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "Mismatching redirect URI."},
    )

    with pytest.raises(KlaviyoInvalidClient):
        exchange_code(config=config, code=CODE, code_verifier=VERIFIER, redirect_uri="r")


def test_refresh_invalid_grant_mentioning_redirect_still_means_reconnect(config, mocked):
    # A refresh sends no redirect_uri, so it cannot be a redirect mismatch.
    mocked.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "Revoked; redirect the user."},
    )

    with pytest.raises(KlaviyoInvalidGrant):
        refresh(config=config, refresh_token=REFRESH_TOKEN)


def test_401_without_a_json_body_is_invalid_client(config, mocked):
    mocked.post(TOKEN_URL, status=401, json={})

    with pytest.raises(KlaviyoInvalidClient):
        refresh(config=config, refresh_token=REFRESH_TOKEN)


def test_other_token_errors_are_plain_oauth_errors(config, mocked):
    mocked.post(TOKEN_URL, status=400, json={"error": "unsupported_grant_type"})

    with pytest.raises(KlaviyoOAuthError) as caught:
        refresh(config=config, refresh_token=REFRESH_TOKEN)

    assert type(caught.value) is KlaviyoOAuthError
    assert caught.value.error == "unsupported_grant_type"


def test_token_endpoint_429_is_rate_limited_not_invalid_grant(config, mocked):
    # Klaviyo allows 10 refreshes per minute per installation; past that the refresh token is
    # still good, so this must never read as a dead grant.
    mocked.post(
        TOKEN_URL,
        status=429,
        headers={"Retry-After": "42"},
        json={"error": "invalid_grant", "error_description": "Too many refreshes."},
    )

    with pytest.raises(KlaviyoRateLimited) as caught:
        refresh(config=config, refresh_token=REFRESH_TOKEN)

    assert not isinstance(caught.value, KlaviyoOAuthError)
    assert caught.value.retry_after == 42.0


def test_token_endpoint_429_without_retry_after_waits_out_the_minute(config, mocked):
    mocked.post(TOKEN_URL, status=429)

    with pytest.raises(KlaviyoRateLimited) as caught:
        refresh(config=config, refresh_token=REFRESH_TOKEN)

    assert caught.value.retry_after == 60.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_token_endpoint_5xx_is_unavailable(config, mocked, status):
    mocked.post(TOKEN_URL, status=status, json={"error": "server_error"})

    with pytest.raises(KlaviyoUnavailable):
        refresh(config=config, refresh_token=REFRESH_TOKEN)
    assert len(mocked.calls) == 1


def test_token_endpoint_html_403_is_unavailable(config, mocked):
    # What a request to www.klaviyo.com/oauth/token or a Cloudflare challenge returns.
    mocked.post(
        TOKEN_URL, status=403, body="<html>Just a moment...</html>", content_type="text/html"
    )

    with pytest.raises(KlaviyoUnavailable):
        refresh(config=config, refresh_token=REFRESH_TOKEN)


def test_token_endpoint_connection_error_is_unavailable(config, mocked):
    mocked.post(TOKEN_URL, body=requests.ConnectionError("connection refused"))

    with pytest.raises(KlaviyoUnavailable):
        refresh(config=config, refresh_token=REFRESH_TOKEN)


def test_oauth_errors_and_logs_never_contain_secrets(config, mocked, caplog):
    # Even if Klaviyo echoed what it was sent, the message shows none of it.
    mocked.post(
        TOKEN_URL,
        status=400,
        json={
            "error": "invalid_grant",
            "error_description": f"Bad code {CODE} / {VERIFIER} for {CLIENT_SECRET}",
        },
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(KlaviyoInvalidGrant) as caught:
        exchange_code(config=config, code=CODE, code_verifier=VERIFIER, redirect_uri="r")

    exposed = f"{caught.value} {caught.value!r} {caught.value.error_description} {caplog.text}"
    for secret in (CODE, VERIFIER, CLIENT_SECRET):
        assert secret not in exposed
    assert "POST /oauth/token grant=authorization_code status=400" in caplog.text


# --- Revoke (RFC 7009) -------------------------------------------------------------------------


def test_revoke_sends_token_type_hint(config, mocked):
    mocked.post(REVOKE_URL, json={})

    revoke(config=config, token=REFRESH_TOKEN)

    request = mocked.calls[0].request
    assert form(mocked.calls[0]) == {
        "token": [REFRESH_TOKEN],
        "token_type_hint": ["refresh_token"],
    }
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_revoke_can_hint_an_access_token(config, mocked):
    mocked.post(REVOKE_URL)

    revoke(config=config, token="ACCESS", token_type_hint="access_token")

    assert form(mocked.calls[0])["token_type_hint"] == ["access_token"]


def test_revoke_accepts_an_empty_200(config, mocked):
    # RFC 7009 section 2.2: "The content of the response body is ignored by the client".
    mocked.post(REVOKE_URL, body="")

    assert revoke(config=config, token=REFRESH_TOKEN) is None


def test_revoke_redirect_is_a_failure_not_a_success(config, mocked):
    mocked.post(REVOKE_URL, status=302, headers={"Location": "https://www.klaviyo.com/login"})

    with pytest.raises(KlaviyoUnavailable):
        revoke(config=config, token=REFRESH_TOKEN)


def test_revoke_failure_is_mapped_like_a_token_error(config, mocked):
    mocked.post(REVOKE_URL, status=401, json={"error": "invalid_client"})

    with pytest.raises(KlaviyoInvalidClient):
        revoke(config=config, token=REFRESH_TOKEN)
