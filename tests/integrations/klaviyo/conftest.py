"""Fixtures for the Klaviyo client's unit tests: a config, a fake token source, a client whose
sleeps are recorded instead of slept, and `responses` standing in for Klaviyo."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.config import KlaviyoConfig

BASE = "https://a.klaviyo.com"
ACCESS_TOKEN = "ACCESS-TOKEN-never-logged-1"
NEW_ACCESS_TOKEN = "ACCESS-TOKEN-never-logged-2"
CLIENT_SECRET = "CLIENT-SECRET-never-logged"


class FakeTokenSource:
    """Hands out one token, and a newer one when told the first was rejected."""

    def __init__(self, token: str = ACCESS_TOKEN, refreshed: str = NEW_ACCESS_TOKEN) -> None:
        self.token = token
        self.refreshed = refreshed
        self.rejected: list[str] = []

    def access_token(self) -> str:
        return self.token

    def refreshed_access_token(self, *, rejected: str) -> str:
        self.rejected.append(rejected)
        self.token = self.refreshed
        return self.token


@pytest.fixture
def config() -> KlaviyoConfig:
    return KlaviyoConfig(
        client_id="partyline-client",
        client_secret=CLIENT_SECRET,
        base_url=BASE,
        redirect_uri="https://partyline.example/integrations/klaviyo/callback/",
        timeout=7.0,
        max_retries=3,
        max_retry_wait=30.0,
    )


@pytest.fixture
def tokens() -> FakeTokenSource:
    return FakeTokenSource()


@pytest.fixture
def sleeps() -> list[float]:
    """Every wait the client asked for, in order (nothing actually sleeps)."""
    return []


@pytest.fixture
def client(tokens: FakeTokenSource, config: KlaviyoConfig, sleeps: list[float]) -> KlaviyoClient:
    return KlaviyoClient(token_source=tokens, config=config, sleep=sleeps.append)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Klaviyo, played by `responses`: an unexpected request fails the test."""
    with responses.RequestsMock() as rsps:
        yield rsps


def error_document(
    status: int, code: str, detail: str, *, pointer: str | None = None, meta: dict | None = None
) -> dict:
    """A JSON:API error document in Klaviyo's shape."""
    error: dict = {
        "id": "cc68708d-0000-4000-8000-000000000000",
        "status": status,
        "code": code,
        "title": "Error.",
        "detail": detail,
        "source": {"pointer": pointer} if pointer else {},
        "links": {},
        "meta": meta or {},
    }
    return {"errors": [error]}
