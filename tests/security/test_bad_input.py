"""Bad input gets a clear answer, never a 500: the NUL bytes the hardening issue measured, and
JSON for every error under /api/, unexpected ones included."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import services as accounts_services
from integrations import api, selectors
from integrations.models import OAuthState

pytestmark = pytest.mark.django_db

SETTINGS_ERROR = "/settings/integrations/?error=klaviyo_connection_failed"


@pytest.fixture(autouse=True)
def klaviyo_at_test_host(settings):
    settings.KLAVIYO_AUTHORIZE_URL = "https://klaviyo.test/oauth/authorize"


def test_a_nul_byte_in_the_callback_state_ends_on_start_again(login, owner):
    client = login(owner)

    response = client.get("/integrations/klaviyo/callback/?state=a%00b&code=x")

    assert response.status_code == 302
    assert response.url == SETTINGS_ERROR
    assert "no longer valid" in client.get(response.url).text


def test_a_nul_byte_in_the_start_url_ends_on_start_again(login, owner):
    response = login(owner).get("/integrations/klaviyo/start/a%00b/")

    assert response.status_code == 302
    assert response.url == SETTINGS_ERROR


def test_a_nul_byte_in_the_oauth_cookie_is_replaced_not_stored(login, owner):
    client = login(owner)
    client.cookies["partyline_oauth_nonce"] = "a\x00b"

    response = client.get("/api/oauth/connect/klaviyo")

    assert response.status_code == 200
    stored = OAuthState.objects.get().browser_nonce
    assert "\x00" not in stored
    # The browser gets the nonce the attempt was bound to, or its callback would be refused.
    assert response.cookies["partyline_oauth_nonce"].value == stored


@pytest.mark.parametrize("auth", ["session", "token"])
def test_a_nul_byte_in_the_account_name_is_a_json_400(login, owner, auth):
    if auth == "session":
        client = login(owner)
    else:
        _token, raw = accounts_services.api_token_create(membership=owner, name="script")
        client = Client(headers={"authorization": f"Bearer {raw}"})

    response = client.get("/api/oauth/connect/klaviyo?accountName=EU%00store")

    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": "accountName cannot contain NUL characters.",
    }
    assert not OAuthState.objects.exists()


def test_an_unexpected_error_in_the_api_is_a_json_500_that_reveals_nothing(
    login, owner, make_connection, monkeypatch
):
    make_connection(owner.organization)

    def broken(connection):
        raise RuntimeError("internal detail: access-token-1")

    monkeypatch.setattr(api, "_account_json", broken)
    client = login(owner, Client(raise_request_exception=False))

    response = client.get("/api/oauth/accounts")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["success"] is False
    assert "internal detail" not in response.text


def test_an_unexpected_error_on_a_page_is_still_the_html_500(login, owner, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "connections_for", broken)
    client = login(owner, Client(raise_request_exception=False))

    response = client.get("/settings/integrations/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


def test_too_many_query_fields_on_the_api_are_a_json_400(login, owner):
    query = "&".join(f"f{n}=1" for n in range(1500))

    response = login(owner).get(f"/api/oauth/connect/klaviyo?{query}")

    assert response.status_code == 400
    assert response.json() == {"success": False, "error": "Bad request."}


def test_unknown_api_paths_and_methods_are_json(login, owner):
    client = login(owner)

    missing = client.get("/api/nothing/here")
    wrong_method = client.post("/api/oauth/accounts")

    assert (missing.status_code, missing.json()["success"]) == (404, False)
    assert (wrong_method.status_code, wrong_method.json()["success"]) == (405, False)
