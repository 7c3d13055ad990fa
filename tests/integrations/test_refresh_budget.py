"""Klaviyo's refresh limit (10 a minute per installation), kept by every refresh path.

Klaviyo's OAuth guide: "you can refresh an access token up to 10 times per minute"; past that
no new access token is issued until the window passes. Each refresh is counted in the
connection's budget in the database, in Klaviyo's fixed minute windows, so the limit holds
across processes; beyond it a refresh waits for the next minute instead of calling.
"""

from __future__ import annotations

import functools
import json
from datetime import timedelta

import pytest
import responses
from django.contrib.admin.sites import site
from django.contrib.messages.storage.fallback import FallbackStorage
from django.utils import timezone

from integrations import tasks, tokens
from integrations.admin import KlaviyoConnectionAdmin
from integrations.klaviyo.config import DEFAULT_SCOPES, KlaviyoConfig
from integrations.models import EventKind, KlaviyoConnection
from integrations.refresh_budget import refresh_acquire
from tests.support.refresh_budget import MINUTE_START, count_refreshes, refresh_budget_on

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
    """The refresh budget's clock, and a fake `sleep` that moves it on: a second into one of
    Klaviyo's minutes to begin with."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.at = MINUTE_START + 1
        self.waits: list[float] = []
        self.calls_when_waiting: list[int] = []
        # How long past now the refresh lease lasts while each wait begins.
        self.lease_left_when_waiting: list[float] = []
        refresh_budget_on(monkeypatch, lambda: self.at)

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.calls_when_waiting.append(len(responses.calls))
        self.lease_left_when_waiting.extend(
            (expires - timezone.now()).total_seconds()
            for expires in KlaviyoConnection.objects.filter(
                refresh_lease_expires_at__isnull=False
            ).values_list("refresh_lease_expires_at", flat=True)
        )
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.at += seconds


def token_calls() -> int:
    return sum(1 for call in responses.calls if call.request.url == TOKEN_URL)


@pytest.mark.django_db
@responses.activate
def test_an_eleventh_forced_refresh_within_a_minute_waits_for_the_next_minute(
    make_connection, monkeypatch
):
    connection = make_connection()
    rotating_tokens()
    clock = Clock(monkeypatch)

    for _ in range(10):
        tokens.refresh_now(connection=connection, config=CONFIG, sleep=clock.sleep)
    assert token_calls() == 10
    assert clock.waits == []

    token = tokens.refresh_now(connection=connection, config=CONFIG, sleep=clock.sleep)

    # It waited (without calling) until the next of Klaviyo's minutes opened, holding the
    # refresh lease through the wait so nobody else refreshed meanwhile.
    assert clock.calls_when_waiting == [10]
    assert clock.waits == [pytest.approx(59)]
    assert clock.lease_left_when_waiting[0] > 59
    assert token_calls() == 11
    assert token == "access-11"
    connection.refresh_from_db()
    assert connection.access_token == "access-11"
    assert connection.refresh_lease_expires_at is None


@pytest.mark.django_db
@responses.activate
def test_refreshes_spread_over_more_than_a_minute_never_wait(make_connection, monkeypatch):
    connection = make_connection()
    rotating_tokens()
    clock = Clock(monkeypatch)

    for _ in range(25):
        tokens.refresh_now(connection=connection, config=CONFIG, sleep=pytest.fail)
        clock.advance(7)  # one refresh every 7 s: at most 9 in any of Klaviyo's minutes

    assert token_calls() == 25


@pytest.mark.django_db
@responses.activate
def test_forced_reactive_proactive_and_keep_alive_refreshes_share_one_budget(
    make_connection, monkeypatch, rf
):
    """refresh_now, the admin action, a 401's refresh, an expiring token and the keep-alive
    all count against the same budget: the eleventh of them in a minute waits."""
    connection = make_connection()
    rotating_tokens()
    clock = Clock(monkeypatch)
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

    # The eleventh, from the admin action: it waits for the next minute first.
    KlaviyoConnectionAdmin(KlaviyoConnection, site).refresh_token_now(
        request, KlaviyoConnection.objects.filter(pk=connection.pk)
    )
    assert clock.calls_when_waiting == [10]
    assert token_calls() == 11

    # Half a minute later, in the same minute as the admin's: nine go straight out, then the
    # keep-alive is the eleventh of that minute and waits too.
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
def test_a_proactive_refresh_over_budget_uses_the_still_valid_token(make_connection, monkeypatch):
    """Only a token that is merely close to expiry needs refreshing: it keeps working while
    the budget is spent, so nobody waits."""
    connection = make_connection()
    rotating_tokens()
    clock = Clock(monkeypatch)
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
@responses.activate
def test_a_refresh_near_the_end_of_a_minute_counts_in_the_next_one_too(
    make_connection, monkeypatch
):
    """Klaviyo counts a refresh when it arrives, which may be in the next minute: one made in
    a minute's last half second takes one of the next minute's ten as well."""
    connection = make_connection()
    rotating_tokens()
    clock = Clock(monkeypatch)
    for _ in range(9):
        tokens.refresh_now(connection=connection, config=CONFIG, sleep=pytest.fail)
    clock.advance(58.7)  # 0.3 s before the minute ends
    tokens.refresh_now(connection=connection, config=CONFIG, sleep=pytest.fail)
    clock.advance(0.5)  # the next minute

    for _ in range(9):
        tokens.refresh_now(connection=connection, config=CONFIG, sleep=pytest.fail)
    tokens.refresh_now(connection=connection, config=CONFIG, sleep=clock.sleep)

    assert clock.calls_when_waiting == [19]
    assert clock.waits == [pytest.approx(59.8)]
    assert token_calls() == 20


@pytest.mark.django_db
def test_each_connection_has_its_own_ten_refreshes_a_minute(make_connection, monkeypatch):
    """Klaviyo's limit is per installation: one connection's refreshes leave another's alone."""
    first, second = make_connection(), make_connection()
    clock = Clock(monkeypatch)
    count_refreshes(first, 10)

    count_refreshes(second, 10)

    assert refresh_acquire(connection_id=first.pk) == pytest.approx(59)
    assert refresh_acquire(connection_id=second.pk) == pytest.approx(59)
    clock.advance(59)
    count_refreshes(first, 10)
