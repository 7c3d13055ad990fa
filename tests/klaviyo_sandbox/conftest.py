"""Fixtures for the sandbox's own tests: its database, a frozen clock, an installed app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from klaviyo_api import KlaviyoAPI

from klaviyo_sandbox import testing
from klaviyo_sandbox.seed import sandbox_seed
from tests.support.sandbox_requests import SANDBOX, SDK_JOB_SECONDS

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every sandbox test uses the sandbox database (where its state lives).
    for item in items:
        if HERE in Path(item.path).resolve().parents and not item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.django_db(databases=["default", "sandbox"]))


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    """A frozen sandbox clock: rate windows and expiries never depend on the wall clock."""
    with testing.frozen_clock():
        yield


@pytest.fixture(autouse=True)
def seeded() -> None:
    """The seed accounts and lists, back if a `transaction=True` test elsewhere flushed them."""
    sandbox_seed()


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def app() -> testing.InstalledApp:
    return testing.install_app(account=testing.ACME)


@pytest.fixture
def klaviyo(live_server, app: testing.InstalledApp, settings) -> KlaviyoAPI:
    """Klaviyo's official SDK pointed at the sandbox served for real by `live_server`, whose
    jobs take SDK_JOB_SECONDS."""
    settings.SANDBOX_JOB_SECONDS = SDK_JOB_SECONDS
    # One attempt: a 429 or 503 would otherwise be retried with real sleeps.
    return KlaviyoAPI(
        None,
        access_token=app.access_token,
        max_retries=1,
        test_host=f"{live_server.url}{SANDBOX}",
    )
