"""Klaviyo's refresh limit (10 a minute per installation), kept by every refresh path.

Klaviyo's OAuth guide: "you can refresh an access token up to 10 times per minute". Each
refresh takes one of the connection's slots in the database, so the limit holds across
processes; beyond it a refresh waits for the oldest slot to free up instead of calling.
"""

from __future__ import annotations

import functools
import json
import time
from datetime import timedelta

import pytest
import responses
from django.contrib.admin.sites import site
from django.contrib.messages.storage.fallback import FallbackStorage
from django.db.models import F
from django.utils import timezone

from integrations import tasks, tokens
from integrations.admin import KlaviyoConnectionAdmin
from integrations.klaviyo.config import DEFAULT_SCOPES, KlaviyoConfig
from integrations.models import EventKind, KlaviyoConnection, RefreshSlot
from integrations.refresh_budget import REFRESH_BUDGET, REFRESH_BUDGET_WINDOW, refresh_slot_take

CONFIG = KlaviyoConfig(
    client_id="client", client_secret="secret", base_url="https://klaviyo.test", timeout=2
)
TOKEN_URL = "https://klaviyo.test/oauth/token"


def rotating_tokens() -> None:
    """The token endpoint answers each refresh with new tokens (access-1, access-2, ...)."""
    issued = iter(range(1, 1000))

    def answer(request):
        number = next(issued)
        return (
            200,
            {},
            json.dumps(
                {
                    "access_token": f"access-{number}",
                    "refresh_token": f"refresh-{number}",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "scope": " ".join(DEFAULT_SCOPES),
                }
            ),
        )

    responses.add_callback("POST", TOKEN_URL, callback=answer)


class Clock:
    """A fake `sleep`: time passes for the refresh budget (its slots' timestamps move back)."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.calls_when_waiting: list[int] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.calls_when_waiting.append(len(responses.calls))
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        RefreshSlot.objects.filter(used_at__isnull=False).update(
            used_at=F("used_at") - timedelta(seconds=seconds)
        )


def token_calls() -> int:
    return sum(1 for call in responses.calls if call.request.url == TOKEN_URL)


@pytest.mark.django_db
@responses.activate
def test_an_eleventh_forced_refresh_within_a_minute_waits_instead_of_calling(make_connection):
    connection = make_connection()
    rotating_tokens()
    clock = Clock()

    began = time.monotonic()
    for _ in range(10):
        tokens.refresh_now(connection=connection, config=CONFIG, sleep=clock.sleep)
    took = time.monotonic() - began
    assert token_calls() == 10
    assert clock.waits == []

    token = tokens.refresh_now(connection=connection, config=CONFIG, sleep=clock.sleep)

    # It waited (without calling) until the first of the ten left the one-minute window.
    assert clock.calls_when_waiting == [10]
    assert len(clock.waits) == 1
    window = REFRESH_BUDGET_WINDOW.total_seconds()
    assert window - took - 1 < clock.waits[0] <= window
    assert token_calls() == 11
    assert token == "access-11"
    connection.refresh_from_db()
    assert connection.access_token == "access-11"
    assert connection.refresh_lease_expires_at is None


@pytest.mark.django_db
@responses.activate
def test_refreshes_spread_over_more_than_a_minute_never_wait(make_connection):
    connection = make_connection()
    rotating_tokens()
    clock = Clock()

    for _ in range(25):
        tokens.refresh_now(connection=connection, config=CONFIG, sleep=pytest.fail)
        clock.advance(7)  # one refresh every 7 s: at most 9 in any minute

    assert token_calls() == 25


@pytest.mark.django_db
@responses.activate
def test_forced_reactive_proactive_and_keep_alive_refreshes_share_one_budget(
    make_connection, monkeypatch, rf
):
    """refresh_now, the admin action, a 401's refresh, an expiring token and the keep-alive
    all take slots of the same budget: the eleventh of them in a minute waits."""
    connection = make_connection()
    rotating_tokens()
    clock = Clock()
    # Every path below reaches refresh_now or the single-flight door with this fake sleep.
    monkeypatch.setattr(
        tokens, "refresh_now", functools.partial(tokens.refresh_now, sleep=clock.sleep)
    )
    monkeypatch.setattr("integrations.tokens.klaviyo_config", lambda: CONFIG)

    for _ in range(3):
        tokens.refresh_now(connection=connection)
    for _ in range(3):
        current = KlaviyoConnection.objects.get(pk=connection.pk).access_token
        tokens.get_refreshed_access_token(
            connection=connection, rejected=current, sleep=clock.sleep
        )
    for _ in range(2):
        KlaviyoConnection.objects.filter(pk=connection.pk).update(
            access_token_expires_at=timezone.now() - timedelta(seconds=1)
        )
        tokens.get_access_token(connection=connection, sleep=clock.sleep)
    request = rf.post("/admin/")
    request.user = None
    request.session = {}
    request._messages = FallbackStorage(request)
    KlaviyoConnectionAdmin(KlaviyoConnection, site).refresh_token_now(
        request, KlaviyoConnection.objects.filter(pk=connection.pk)
    )
    assert token_calls() == 9
    assert clock.waits == []
    make_idle(connection)
    assert tasks.keep_alive_connection.call(connection_id=connection.pk) == "refreshed"
    assert token_calls() == 10
    assert clock.waits == []

    # The eleventh, from the admin action: it waits for the oldest slot first.
    KlaviyoConnectionAdmin(KlaviyoConnection, site).refresh_token_now(
        request, KlaviyoConnection.objects.filter(pk=connection.pk)
    )
    assert clock.calls_when_waiting == [10]
    assert token_calls() == 11

    # Half a minute later the ten before it are out of the window, the admin's is not: nine
    # go straight out, then the keep-alive is the eleventh in a minute and waits too.
    clock.advance(30)
    for _ in range(9):
        tokens.refresh_now(connection=connection)
    assert clock.calls_when_waiting == [10]
    make_idle(connection)
    assert tasks.keep_alive_connection.call(connection_id=connection.pk) == "refreshed"
    assert clock.calls_when_waiting == [10, 20]
    assert token_calls() == 21
    assert connection.events.filter(kind=EventKind.REFRESHED).count() == 21


def make_idle(connection: KlaviyoConnection) -> None:
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        last_refreshed_at=timezone.now() - timedelta(days=40)
    )


@pytest.mark.django_db
@responses.activate
def test_a_proactive_refresh_over_budget_uses_the_still_valid_token(make_connection):
    """Only a token that is merely close to expiry needs refreshing: it keeps working while
    the budget is spent, so nobody waits."""
    connection = make_connection()
    rotating_tokens()
    clock = Clock()
    for _ in range(10):
        tokens.refresh_now(connection=connection, config=CONFIG, sleep=clock.sleep)
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() + timedelta(seconds=30)
    )

    token = tokens.get_access_token(connection=connection, config=CONFIG, sleep=pytest.fail)

    assert token == "access-10"
    assert token_calls() == 10
    assert KlaviyoConnection.objects.get(pk=connection.pk).refresh_lease_expires_at is None


@pytest.mark.django_db
def test_a_slot_is_taken_once_per_window_even_when_two_callers_read_it_at_once(make_connection):
    """The conditional UPDATE on the slot's previous use: a caller whose read went stale
    takes another slot or waits, never the one someone else just took."""
    connection = make_connection()
    for _ in range(9):
        assert refresh_slot_take(connection_id=connection.pk) == 0.0
    last_free = RefreshSlot.objects.get(connection=connection, used_at__isnull=True)

    # Someone else takes the last free slot between our read and our UPDATE.
    assert RefreshSlot.objects.filter(pk=last_free.pk, used_at=None).update(used_at=timezone.now())
    assert not RefreshSlot.objects.filter(pk=last_free.pk, used_at=None).update(
        used_at=timezone.now()
    )
    assert refresh_slot_take(connection_id=connection.pk) > 30
    assert RefreshSlot.objects.filter(connection=connection).count() == REFRESH_BUDGET
