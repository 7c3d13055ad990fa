"""Fixtures for the Klaviyo client's unit tests: a config, a fake token source, a client whose
sleeps are recorded instead of slept, and `responses` standing in for Klaviyo."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.config import KlaviyoConfig
from tests.support.klaviyo_doubles import BASE, CLIENT_SECRET, FakeTokenSource


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
