"""The sandbox's authorization server behaves as Klaviyo's (and RFC 6749/7636/7009)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings

from klaviyo_sandbox import testing
from klaviyo_sandbox.models import AuthorizationCode, Installation, Token
from tests.support.sandbox_requests import (
    BASIC,
    REDIRECT_URI,
    SANDBOX,
    api,
    authorize_params,
    pkce_pair,
    revoke_post,
    token_post,
)

AUTHORIZE = f"{SANDBOX}/oauth/authorize"


def consent(client, challenge, decision="allow", account="AcmePt", **overrides):
    params = authorize_params(challenge, **overrides)
    return client.post(AUTHORIZE, {**params, "account": account, "decision": decision})


def query_of(response) -> dict[str, str]:
    return {
        key: values[0] for key, values in parse_qs(urlsplit(response["Location"]).query).items()
    }


def get_code(client, challenge: str, **overrides: str) -> str:
    response = consent(client, challenge, **overrides)
    assert response.status_code == 302
    return query_of(response)["code"]


def exchange(client, code: str, verifier: str, redirect_uri: str = REDIRECT_URI):
    return token_post(
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
        },
    )


# --- Authorize ----------------------------------------------------------------------------


def test_consent_page_names_scopes_in_plain_words_and_offers_accounts(client):
    _, challenge = pkce_pair()

    response = client.get(AUTHORIZE, authorize_params(challenge))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Sandbox Klaviyo: nothing is sent to Klaviyo" in page
    assert "Create, rename and delete lists" in page
    assert "Acme Pets" in page
    assert "Bark &amp; Co" in page
    assert 'value="allow"' in page
    assert 'value="deny"' in page
    assert "csrfmiddlewaretoken" in page


def test_allow_redirects_with_code_and_state(client):
    _, challenge = pkce_pair()

    response = consent(client, challenge)

    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT_URI)
    query = query_of(response)
    assert query["state"] == "state-123"
    assert len(query["code"]) > 20


def test_deny_redirects_with_access_denied_and_state(client):
    _, challenge = pkce_pair()

    response = consent(client, challenge, decision="deny")

    assert response.status_code == 302
    query = query_of(response)
    assert query["error"] == "access_denied"
    assert query["error_description"]
    assert query["state"] == "state-123"
    assert "code" not in query


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"client_id": "someone-else"}, "client_id"),
        ({"redirect_uri": "http://evil.example/callback/"}, "redirect_uri"),
        ({"redirect_uri": REDIRECT_URI.rstrip("/")}, "redirect_uri"),  # exact match only
        ({"response_type": "token"}, "response_type"),
        ({"scope": "accounts:read webhooks:write"}, "webhooks:write"),
        ({"scope": ""}, "scope"),
        ({"state": ""}, "state"),
        ({"code_challenge_method": "plain"}, "S256"),
        ({"code_challenge": "too-short"}, "code_challenge"),
    ],
)
def test_bad_authorize_parameters_get_an_error_page_not_a_redirect(client, override, problem):
    _, challenge = pkce_pair()

    response = client.get(AUTHORIZE, authorize_params(challenge, **override))

    assert response.status_code == 400
    assert "Location" not in response
    assert problem in response.content.decode()


def test_tampered_hidden_fields_are_checked_again_on_allow(client):
    _, challenge = pkce_pair()

    response = consent(client, challenge, redirect_uri="http://evil.example/")

    assert response.status_code == 400
    assert "Location" not in response


def test_consent_form_is_csrf_protected(client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    _, challenge = pkce_pair()

    response = consent(strict, challenge)

    assert response.status_code == 403


# --- Code exchange ---------------------------------------------------------------------------


def test_code_exchange_returns_the_documented_token_response(client):
    verifier, challenge = pkce_pair()
    code = get_code(client, challenge)

    response = exchange(client, code, verifier)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "accounts:read lists:read lists:write"
    assert "no-store" in response["Cache-Control"]
    accounts = api(
        client, "GET", "accounts/", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert accounts.status_code == 200
    assert accounts.json()["data"][0]["id"] == "AcmePt"


def test_the_chosen_account_is_the_one_installed(client):
    verifier, challenge = pkce_pair()
    code = get_code(client, challenge, account="BarkCo")

    body = exchange(client, code, verifier).json()

    accounts = api(
        client, "GET", "accounts", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert (
        accounts.json()["data"][0]["attributes"]["contact_information"]["organization_name"]
        == "Bark & Co"
    )


def test_pkce_mismatch_is_invalid_grant(client):
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    code = get_code(client, challenge)

    response = exchange(client, code, other_verifier)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Code challenge failed.",
    }


def test_malformed_code_verifier_is_invalid_request(client):
    _, challenge = pkce_pair()
    code = get_code(client, challenge)

    response = exchange(client, code, "short")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_reused_code_is_invalid_grant_and_revokes_what_it_issued(client):
    verifier, challenge = pkce_pair()
    code = get_code(client, challenge)
    first = exchange(client, code, verifier).json()

    replay = exchange(client, code, verifier)

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    call = api(
        client, "GET", "accounts", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert call.status_code == 401


def test_code_expires_after_five_minutes(client):
    verifier, challenge = pkce_pair()
    code = get_code(client, challenge)
    testing.advance(5 * 60 + 1)

    response = exchange(client, code, verifier)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_still_works_just_inside_five_minutes(client):
    verifier, challenge = pkce_pair()
    code = get_code(client, challenge)
    testing.advance(5 * 60 - 1)

    assert exchange(client, code, verifier).status_code == 200


def test_redirect_uri_must_be_identical_to_the_authorize_request(client):
    verifier, challenge = pkce_pair()
    code = get_code(client, challenge)

    response = exchange(
        client, code, verifier, redirect_uri="http://localhost:8000/integrations/klaviyo/callback/"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "auth",
    [
        "",
        "Bearer abc",
        "Basic not-base64!",
        "Basic " + __import__("base64").b64encode(b"partyline-sandbox:wrong").decode(),
        "Basic " + __import__("base64").b64encode(b"other:partyline-sandbox-secret").decode(),
    ],
)
def test_bad_client_authentication_is_invalid_client_401(client, auth):
    response = token_post(client, {"grant_type": "refresh_token", "refresh_token": "x"}, auth=auth)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic")


def test_token_endpoint_takes_form_encoded_bodies_only(client):
    response = client.post(
        f"{SANDBOX}/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": "x"},
        content_type="application/json",
        headers={"Authorization": BASIC},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_unknown_grant_type_is_unsupported_grant_type(client):
    response = token_post(client, {"grant_type": "password"})

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"grant_type": "authorization_code", "code": "abc"},
        {"grant_type": "refresh_token"},
    ],
)
def test_missing_parameters_are_invalid_request(client, data):
    response = token_post(client, data)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_token_endpoint_rejects_get(client):
    assert client.get(f"{SANDBOX}/oauth/token").status_code == 405


# --- Refresh ------------------------------------------------------------------------------------


def refresh(client, refresh_token: str):
    return token_post(client, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def test_refresh_issues_a_new_access_token_and_rotates_the_refresh_token(client, app):
    response = refresh(client, app.refresh_token)

    assert response.status_code == 200
    body = response.json()
    assert body["access_token"] != app.access_token
    assert body["refresh_token"] != app.refresh_token
    assert body["scope"] == app.scope
    # The rotated-out refresh token is dead; the old access token still works (Klaviyo).
    assert refresh(client, app.refresh_token).json()["error"] == "invalid_grant"
    assert api(client, "GET", "accounts", app).status_code == 200
    assert refresh(client, body["refresh_token"]).status_code == 200


@override_settings(SANDBOX_ROTATE_REFRESH_TOKENS=False)
def test_without_rotation_the_refresh_token_is_returned_unchanged(client, app):
    first = refresh(client, app.refresh_token).json()
    second = refresh(client, app.refresh_token).json()

    assert first["refresh_token"] == second["refresh_token"] == app.refresh_token


@override_settings(SANDBOX_ACCESS_TOKEN_LIFETIME=60)
def test_access_tokens_expire_after_the_configured_lifetime(client):
    app = testing.install_app()
    assert app.expires_in == 60
    assert api(client, "GET", "accounts", app).status_code == 200
    testing.advance(61)

    response = api(client, "GET", "accounts", app)

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


def test_at_most_ten_refreshes_a_minute_per_installation(client, app):
    token = app.refresh_token
    for _ in range(10):
        response = refresh(client, token)
        assert response.status_code == 200
        token = response.json()["refresh_token"]

    limited = refresh(client, token)

    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    # The refresh token was not spent, and works once the minute has passed.
    testing.advance(int(limited["Retry-After"]))
    assert refresh(client, token).status_code == 200


def test_refresh_limit_is_per_installation(client, app):
    token = app.refresh_token
    for _ in range(10):
        token = refresh(client, token).json()["refresh_token"]
    other = testing.install_app(account=testing.BARK)

    assert refresh(client, other.refresh_token).status_code == 200


def test_refresh_token_dies_after_90_days_unused(client, app):
    testing.advance(timedelta(days=90, seconds=1).total_seconds())

    response = refresh(client, app.refresh_token)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_refresh_token_used_within_90_days_lives_on(client, app):
    testing.advance(timedelta(days=89).total_seconds())
    token = refresh(client, app.refresh_token).json()["refresh_token"]
    testing.advance(timedelta(days=89).total_seconds())

    assert refresh(client, token).status_code == 200


def test_uninstall_makes_refresh_invalid_grant_and_api_calls_401(client, app):
    testing.uninstall(app)

    assert refresh(client, app.refresh_token).json()["error"] == "invalid_grant"
    assert api(client, "GET", "accounts", app).status_code == 401


def test_expire_access_tokens_now(client, app):
    testing.expire_access_tokens(app)

    assert api(client, "GET", "accounts", app).status_code == 401
    new = refresh(client, app.refresh_token).json()
    assert (
        api(
            client, "GET", "accounts", headers={"Authorization": f"Bearer {new['access_token']}"}
        ).status_code
        == 200
    )


# --- Revoke --------------------------------------------------------------------------------


def test_revoking_the_refresh_token_uninstalls_the_app(client, app):
    response = revoke_post(client, {"token": app.refresh_token, "token_type_hint": "refresh_token"})

    assert response.status_code == 200
    assert not Installation.objects.using("sandbox").get(pk=app.installation.pk).is_active
    assert api(client, "GET", "accounts", app).status_code == 401
    assert refresh(client, app.refresh_token).json()["error"] == "invalid_grant"


def test_revoking_an_access_token_revokes_only_it(client, app):
    response = revoke_post(client, {"token": app.access_token, "token_type_hint": "access_token"})

    assert response.status_code == 200
    assert api(client, "GET", "accounts", app).status_code == 401
    assert refresh(client, app.refresh_token).status_code == 200


def test_revoking_an_unknown_token_is_200(client):
    assert revoke_post(client, {"token": "never-issued"}).status_code == 200


def test_revoke_needs_client_authentication_and_a_token(client, app):
    assert revoke_post(client, {"token": app.refresh_token}, auth="").status_code == 401
    assert revoke_post(client, {}).json()["error"] == "invalid_request"


# --- At rest -----------------------------------------------------------------------------------


def test_codes_and_tokens_are_stored_only_as_hashes(client):
    verifier, challenge = pkce_pair()
    code = get_code(client, challenge)
    body = exchange(client, code, verifier).json()

    stored = [row.token_hash for row in Token.objects.using("sandbox").all()]
    stored += [row.code_hash for row in AuthorizationCode.objects.using("sandbox").all()]
    for secret in (code, body["access_token"], body["refresh_token"]):
        assert secret not in stored
        assert all(len(value) == 64 for value in stored)
    assert AuthorizationCode.objects.using("sandbox").get().code_challenge == challenge
