"""`testing.route_requests_to_sandbox`: a requests-based client talks to the sandbox in-process."""

from __future__ import annotations

import requests
from django.conf import settings

from klaviyo_sandbox import testing
from tests.support.sandbox_requests import BASIC, pkce_pair

TIMEOUT = 5


def test_requests_reach_the_sandbox_and_follow_absolute_links(app):
    testing.create_list(name="Extra")
    base = settings.KLAVIYO_BASE_URL
    headers = {"Authorization": f"Bearer {app.access_token}", "revision": settings.KLAVIYO_REVISION}

    with testing.route_requests_to_sandbox():
        first = requests.get(
            f"{base}/api/lists/", params={"page[size]": 1}, headers=headers, timeout=TIMEOUT
        )
        second = requests.get(first.json()["links"]["next"], headers=headers, timeout=TIMEOUT)
        created = requests.post(
            f"{base}/api/lists/",
            json={"data": {"type": "list", "attributes": {"name": "Via requests"}}},
            headers={**headers, "Content-Type": "application/vnd.api+json"},
            timeout=TIMEOUT,
        )

    assert first.status_code == second.status_code == 200
    assert first.json()["links"]["next"].startswith(f"{base}/api/lists/")
    assert second.json()["data"][0]["id"] != first.json()["data"][0]["id"]
    assert created.status_code == 201
    assert created.headers["Content-Type"] == "application/vnd.api+json"
    assert testing.call_count("GET", "/api/lists") == 2


def test_token_endpoint_through_requests(app):
    with testing.route_requests_to_sandbox():
        response = requests.post(
            f"{settings.KLAVIYO_BASE_URL}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": app.refresh_token},
            headers={"Authorization": BASIC},
            timeout=TIMEOUT,
        )

    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


def test_authorization_code_shortcut_exchanges_like_a_real_code():
    verifier, challenge = pkce_pair()
    redirect_uri = settings.SANDBOX_REDIRECT_URIS[0]
    code = testing.authorization_code(code_challenge=challenge, redirect_uri=redirect_uri)

    with testing.route_requests_to_sandbox():
        response = requests.post(
            f"{settings.KLAVIYO_BASE_URL}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": redirect_uri,
            },
            auth=(settings.KLAVIYO_CLIENT_ID, settings.KLAVIYO_CLIENT_SECRET),
            timeout=TIMEOUT,
        )

    assert response.status_code == 200
