"""Expected Klaviyo faults (an outage, a throttle storm, the token endpoint down) are one
WARNING line each in the log, never an ERROR or a traceback; a real bug stays an error
(tests/test_error_pages.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import KlaviyoConnection
from klaviyo_sandbox import testing
from parties import sync
from parties.models import SyncState
from tests.support.signups import signup

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


@pytest.fixture(autouse=True)
def no_waiting(settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


def assert_only_warnings(records: list[logging.LogRecord]) -> None:
    loud = [r for r in records if r.levelno >= logging.ERROR]
    tracebacks = [r for r in records if r.exc_info or r.exc_text]
    assert loud == [], [r.getMessage() for r in loud]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]


def sandbox_answers(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.name == "django.request"]


def test_an_outage_is_one_warning_per_failed_call(sandbox_party, caplog):
    testing.start_outage(120)
    signup(sandbox_party)

    with caplog.at_level(logging.INFO):
        sync.party_sync(party_id=sandbox_party.pk)

    assert sandbox_party.attendees.get().sync_state == SyncState.PENDING
    assert_only_warnings(caplog.records)
    [answer] = sandbox_answers(caplog.records)
    assert answer.levelno == logging.WARNING
    assert answer.getMessage() == (
        "Sandbox Klaviyo injected fault: POST /sandbox/klaviyo/api/profile-bulk-import-jobs/ "
        "answered 503 (Retry-After 120)"
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "Klaviyo unavailable for party" in " ".join(warnings)


def test_a_throttle_storm_is_one_warning_per_failed_call(sandbox_party, caplog):
    testing.start_throttle_storm(120)
    signup(sandbox_party)

    with caplog.at_level(logging.INFO):
        sync.party_sync(party_id=sandbox_party.pk)

    assert_only_warnings(caplog.records)
    [answer] = sandbox_answers(caplog.records)
    assert answer.levelno == logging.WARNING
    assert "answered 429" in answer.getMessage()


def test_the_token_endpoint_down_is_warnings_only(sandbox_party, caplog):
    KlaviyoConnection.objects.update(access_token_expires_at=timezone.now() - timedelta(1))
    testing.start_outage(120)
    signup(sandbox_party)

    with caplog.at_level(logging.INFO):
        sync.party_sync(party_id=sandbox_party.pk)

    assert_only_warnings(caplog.records)
    [answer] = sandbox_answers(caplog.records)
    assert answer.getMessage().startswith(
        "Sandbox Klaviyo injected fault: POST /sandbox/klaviyo/oauth/token answered 503"
    )
