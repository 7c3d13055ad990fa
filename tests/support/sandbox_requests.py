"""Requests to the sandbox as a Klaviyo client would send them (OAuth posts, REST calls with
their headers, JSON:API bodies), for the sandbox's own tests."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse
from django.test import Client

from klaviyo_sandbox import testing

SANDBOX = "/sandbox/klaviyo"
# How long the sandbox's jobs take in the SDK tests (their clock is moved past it).
SDK_JOB_SECONDS = 2.0
REDIRECT_URI = "http://testserver/integrations/klaviyo/callback/"
CLIENT_ID = "partyline-sandbox"
CLIENT_SECRET = "partyline-sandbox-secret"
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
JSONAPI = "application/vnd.api+json"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)[:64]
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def authorize_params(challenge: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "accounts:read lists:read lists:write",
        "state": "state-123",
        "code_challenge_method": "S256",
        "code_challenge": challenge,
    }
    params.update(overrides)
    return params


def token_post(client: Client, data: dict[str, str], auth: str = BASIC) -> HttpResponse:
    return client.generic(
        "POST",
        f"{SANDBOX}/oauth/token",
        urlencode(data),
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": auth},
    )


def revoke_post(client: Client, data: dict[str, str], auth: str = BASIC) -> HttpResponse:
    return client.generic(
        "POST",
        f"{SANDBOX}/oauth/revoke",
        urlencode(data),
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": auth},
    )


def api(
    client: Client,
    method: str,
    path: str,
    app: testing.InstalledApp | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """A REST call as Klaviyo expects it: Bearer token, revision header, JSON:API body."""
    sent = app.headers() if app else {"revision": "2026-07-15"}
    sent.update(headers or {})
    data = json.dumps(body) if body is not None else ""
    return client.generic(method, f"{SANDBOX}/api/{path}", data, content_type=JSONAPI, headers=sent)


def error_codes(response: HttpResponse) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def list_body(name: str, opt_in: str | None = "single_opt_in") -> dict[str, Any]:
    attributes: dict[str, Any] = {"name": name}
    if opt_in:
        attributes["opt_in_process"] = opt_in
    return {"data": {"type": "list", "attributes": attributes}}


def subscribe_body(list_id: str | None, emails: list[str], source: str = "Pet Party signup"):
    body: dict[str, Any] = {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "custom_source": source,
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": email,
                                "subscriptions": {
                                    "email": {"marketing": {"consent": "SUBSCRIBED"}}
                                },
                            },
                        }
                        for email in emails
                    ]
                },
            },
        }
    }
    if list_id:
        body["data"]["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return body


def import_body(list_id: str | None, profiles: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {
                    "data": [{"type": "profile", "attributes": attrs} for attrs in profiles]
                }
            },
        }
    }
    if list_id:
        body["data"]["relationships"] = {"lists": {"data": [{"type": "list", "id": list_id}]}}
    return body
