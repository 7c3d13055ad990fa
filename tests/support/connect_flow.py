"""Driving the connect flow through the real views against the sandbox, as a browser would."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.test import Client
from django.urls import reverse

from klaviyo_sandbox import testing


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def start_connect(client: Client, *, label: str = "") -> str:
    """POST Connect; return the sandbox authorize URL the browser is sent to."""
    response = client.post(reverse("integrations:klaviyo_connect"), {"label": label})
    assert response.status_code == 302, response.content[:300]
    return response.url


def consent(
    client: Client, authorize_url: str, *, account: str = testing.ACME, allow: bool = True
) -> str:
    """Show Klaviyo's consent page, click Allow or Deny; return the callback URL."""
    page = client.get(path_of(authorize_url))
    assert page.status_code == 200, page.content[:500]
    # A person takes a few seconds on the consent page (and GET /api/accounts allows 1/s).
    testing.advance(3)
    params = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
    params.update({"account": account, "decision": "allow" if allow else "deny"})
    response = client.post(urlsplit(authorize_url).path, params)
    assert response.status_code == 302, response.content[:500]
    return response.url


def connect_through_sandbox(client: Client, *, label: str = "", account: str = testing.ACME):
    """The whole browser journey; returns the callback's response."""
    callback_url = consent(client, start_connect(client, label=label), account=account)
    return client.get(path_of(callback_url))
