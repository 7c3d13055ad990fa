"""Browser tests: the system's Chromium, driven by Playwright, against the live test server.

The live server (pytest-django's `live_server`, in this process) serves Partyline and the
sandbox Klaviyo mounted at /sandbox/klaviyo/, so the consent page, the token exchange and
the REST calls are real HTTP to the same server. A django-tasks-db worker runs in a thread,
as `make run` runs one beside the web server, and the sandbox's bulk jobs take a short real
time, so a signup goes from "Waiting" to "In the list" in a few seconds as it would live.

No browser is downloaded: the tests use `/usr/bin/chromium` (Debian's `chromium` package;
another path with CHROMIUM_PATH) and are skipped, saying so, where there is none.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.chromium import CHROMIUM_ARGS, chromium_path, configured_chromium
from tests.support.page_audit import Audit, readme_shots_dir
from tests.support.workers import make_worker, run_in_thread

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    chromium = chromium_path()
    for item in items:
        if HERE not in Path(item.path).resolve().parents:
            continue
        item.add_marker(pytest.mark.browser)
        # Real threads (the live server, the worker) share the database: no test transaction.
        item.add_marker(pytest.mark.django_db(transaction=True, databases=["default", "sandbox"]))
        if chromium is None:
            item.add_marker(
                pytest.mark.skip(
                    reason=f"no Chromium at {configured_chromium()} nor on PATH (install "
                    "Debian's `chromium` package, or set CHROMIUM_PATH): browser tests skipped"
                )
            )


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole package, closed when its last test ends."""
    # Playwright's sync API keeps an asyncio loop running in this thread, so Django takes
    # the test's own ORM calls for calls from async code. They are not: allow them while
    # the browser is open, and only then (the rest of the suite keeps the check).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def site(live_server, settings, browser) -> Iterator[str]:
    """The live server's URL, with the product pointed at its sandbox and a worker running."""
    from klaviyo_sandbox.seed import sandbox_seed

    base = live_server.url
    sandbox = f"{base}/sandbox/klaviyo"
    settings.KLAVIYO_BASE_URL = sandbox
    settings.KLAVIYO_AUTHORIZE_URL = f"{sandbox}/oauth/authorize"
    settings.SANDBOX_REDIRECT_URIS = [
        *settings.SANDBOX_REDIRECT_URIS,
        f"{base}/integrations/klaviyo/callback/",
    ]
    # Klaviyo's jobs take a moment, as they do for real; the pipeline looks again soon.
    settings.SANDBOX_JOB_SECONDS = 0.5
    settings.PARTY_SYNC_WINDOW_SECONDS = 0.5
    settings.PARTY_VERIFY_INTERVAL_SECONDS = 0.5
    sandbox_seed()  # a transaction=True test before may have flushed it

    worker = make_worker("browser-tests", batch=False, interval=0.1)
    thread = run_in_thread(worker)
    try:
        yield base
    finally:
        worker.running = False
        thread.join(timeout=15)


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[Audit]:
    """The journey's findings; printed (and shown with a failure) even if it stops early."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    journey = Audit(shots=shots, readme_shots=readme_shots_dir())
    yield journey
    print(journey.report())  # noqa: T201 (pytest shows it beside a failure)
