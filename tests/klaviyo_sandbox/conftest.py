"""Fixtures for the sandbox's own tests: its database, a frozen clock, an installed app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from klaviyo_sandbox import testing
from klaviyo_sandbox.seed import sandbox_seed

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
