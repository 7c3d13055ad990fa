"""The JSON API is limited per API token (per user for browser sessions); over the limit the
answer is JSON with `retryAfter` and a `Retry-After` header."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from accounts import services as accounts_services

pytestmark = pytest.mark.django_db

ACCOUNTS_URL = "/api/oauth/accounts"


def bearer(membership, name: str = "script") -> Client:
    _token, raw = accounts_services.api_token_create(membership=membership, name=name)
    return Client(headers={"authorization": f"Bearer {raw}"})


def test_a_token_over_its_rate_gets_json_429_with_retry_after(owner, settings):
    settings.API_RATE_PER_TOKEN = "2/m"
    client = bearer(owner)
    statuses = [client.get(ACCOUNTS_URL).status_code for _ in range(2)]

    response = client.get(ACCOUNTS_URL)

    assert statuses == [200, 200]
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    assert "Too many API requests" in body["error"]
    assert 0 < body["retryAfter"] <= 60
    assert response["Retry-After"] == str(body["retryAfter"])


def test_each_token_has_its_own_allowance(owner, settings):
    settings.API_RATE_PER_TOKEN = "1/m"
    first, second = bearer(owner, "one"), bearer(owner, "two")

    assert first.get(ACCOUNTS_URL).status_code == 200
    assert first.get(ACCOUNTS_URL).status_code == 429
    assert second.get(ACCOUNTS_URL).status_code == 200


def test_a_token_works_again_once_the_window_has_passed(owner, settings):
    settings.API_RATE_PER_TOKEN = "1/m"
    client = bearer(owner)
    client.get(ACCOUNTS_URL)
    assert client.get(ACCOUNTS_URL).status_code == 429

    cache.clear()

    assert client.get(ACCOUNTS_URL).status_code == 200


def test_browser_sessions_are_limited_per_user(login, owner, settings):
    settings.API_RATE_PER_TOKEN = "1/m"
    client = login(owner)

    assert client.get(ACCOUNTS_URL).status_code == 200
    response = client.get(ACCOUNTS_URL)

    assert response.status_code == 429
    assert response.json()["retryAfter"] > 0


def test_unauthenticated_calls_spend_no_token_allowance(owner, settings):
    settings.API_RATE_PER_TOKEN = "1/m"
    for _ in range(3):
        assert (
            Client(headers={"authorization": "Bearer pl_unknown"}).get(ACCOUNTS_URL).status_code
            == 401
        )

    assert bearer(owner).get(ACCOUNTS_URL).status_code == 200
