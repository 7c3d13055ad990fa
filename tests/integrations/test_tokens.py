"""The token door: proactive refresh, single-flight, rotation, invalid_grant, refresh limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
from django.db import connection as db_connection
from django.utils import timezone

from integrations import tokens
from integrations.errors import ConnectionUnusable
from integrations.klaviyo.config import DEFAULT_SCOPES, KlaviyoConfig
from integrations.klaviyo.errors import KlaviyoUnavailable
from integrations.models import ConnectionEvent, ConnectionStatus, EventKind, KlaviyoConnection
from tests.support.leases import CountedLease

CONFIG = KlaviyoConfig(
    client_id="client", client_secret="secret", base_url="https://klaviyo.test", timeout=2
)
TOKEN_URL = "https://klaviyo.test/oauth/token"


def token_body(access: str = "access-token-2", refresh: str | None = "refresh-token-2") -> str:
    body = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": " ".join(DEFAULT_SCOPES),
    }
    if refresh:
        body["refresh_token"] = refresh
    return json.dumps(body)


def expire(connection: KlaviyoConnection, seconds_left: int = 10) -> None:
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() + timedelta(seconds=seconds_left)
    )


@pytest.mark.django_db
@responses.activate
def test_valid_token_is_returned_without_calling_klaviyo(make_connection):
    connection = make_connection(expires_in=3600)

    assert tokens.get_access_token(connection=connection, config=CONFIG) == "access-token-1"
    assert len(responses.calls) == 0


@pytest.mark.django_db
@responses.activate
def test_token_expiring_within_60_seconds_is_refreshed_first(make_connection):
    connection = make_connection()
    expire(connection, seconds_left=59)
    responses.post(TOKEN_URL, body=token_body())

    token = tokens.get_access_token(connection=connection, config=CONFIG)

    assert token == "access-token-2"
    form = parse_qs(responses.calls[0].request.body)
    assert form == {"grant_type": ["refresh_token"], "refresh_token": ["refresh-token-1"]}
    connection.refresh_from_db()
    assert connection.access_token == "access-token-2"
    assert connection.refresh_token == "refresh-token-2"
    assert connection.refresh_lease_expires_at is None
    assert connection.last_refreshed_at is not None
    assert connection.events.filter(kind=EventKind.REFRESHED).count() == 1


@pytest.mark.django_db
@responses.activate
def test_refresh_without_new_refresh_token_keeps_the_old_one(make_connection):
    connection = make_connection()
    expire(connection)
    responses.post(TOKEN_URL, body=token_body(refresh=None))

    tokens.get_access_token(connection=connection, config=CONFIG)

    connection.refresh_from_db()
    assert connection.refresh_token == "refresh-token-1"
    assert connection.access_token == "access-token-2"


@pytest.mark.django_db
@responses.activate
def test_invalid_grant_marks_connection_needs_reconnect_with_event(make_connection):
    connection = make_connection()
    expire(connection)
    responses.post(
        TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "revoked"}
    )

    with pytest.raises(ConnectionUnusable):
        tokens.get_access_token(connection=connection, config=CONFIG)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert connection.refresh_token == "refresh-token-1"  # kept for the record, never reused
    assert ConnectionEvent.objects.filter(
        connection=connection, kind=EventKind.NEEDS_RECONNECT
    ).exists()
    assert connection.refresh_lease_expires_at is None


@pytest.mark.django_db
@responses.activate
def test_connection_needing_reconnect_gives_no_token_and_calls_nothing(make_connection):
    connection = make_connection(status=ConnectionStatus.NEEDS_RECONNECT)

    with pytest.raises(ConnectionUnusable):
        tokens.get_access_token(connection=connection, config=CONFIG)
    assert len(responses.calls) == 0


@pytest.mark.django_db
@responses.activate
def test_refresh_limit_is_waited_out_not_a_lost_token(make_connection):
    """Klaviyo allows ten refreshes a minute; a 429 means wait, not reconnect."""
    connection = make_connection()
    expire(connection, seconds_left=-5)
    responses.post(
        TOKEN_URL, status=429, headers={"Retry-After": "7"}, json={"error": "rate_limited"}
    )
    responses.post(TOKEN_URL, body=token_body())
    waits: list[float] = []

    token = tokens.get_access_token(connection=connection, config=CONFIG, sleep=waits.append)

    assert token == "access-token-2"
    assert waits == [7.0]
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE


@pytest.mark.django_db
@responses.activate
def test_refresh_limit_with_a_still_valid_token_uses_the_current_token(make_connection):
    connection = make_connection()
    expire(connection, seconds_left=30)  # inside the margin, but not expired
    responses.post(TOKEN_URL, status=429, headers={"Retry-After": "30"}, json={"error": "x"})

    token = tokens.get_access_token(connection=connection, config=CONFIG, sleep=pytest.fail)

    assert token == "access-token-1"


@pytest.mark.django_db
@responses.activate
def test_klaviyo_down_during_refresh_records_the_error_and_keeps_the_connection(make_connection):
    connection = make_connection()
    expire(connection)
    responses.post(TOKEN_URL, status=503, body="unavailable")

    with pytest.raises(KlaviyoUnavailable):
        tokens.get_access_token(connection=connection, config=CONFIG)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.refresh_token == "refresh-token-1"
    assert connection.last_error
    assert connection.refresh_lease_expires_at is None
    assert connection.events.filter(kind=EventKind.REFRESH_FAILED).exists()


def another_process_finishes(connection: KlaviyoConnection) -> Callable[[float], None]:
    """A waiter's sleep during which the lease holder saves its new token and lets go."""

    def sleep(_seconds: float) -> None:
        KlaviyoConnection.objects.filter(pk=connection.pk).update(
            access_token="access-token-from-elsewhere",
            access_token_expires_at=timezone.now() + timedelta(hours=1),
            refresh_lease_holder="",
            refresh_lease_expires_at=None,
        )

    return sleep


@pytest.mark.django_db
@responses.activate
def test_waiter_uses_the_token_another_process_just_saved(make_connection):
    """While someone else holds the lease, a caller re-reads the row until they finish."""
    connection = make_connection()
    expire(connection)
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        refresh_lease_holder="someone-else",
        refresh_lease_expires_at=timezone.now() + timedelta(seconds=30),
    )

    token = tokens.get_access_token(
        connection=connection, config=CONFIG, sleep=another_process_finishes(connection)
    )

    assert token == "access-token-from-elsewhere"
    assert len(responses.calls) == 0


@pytest.mark.django_db
@responses.activate
def test_woken_waiter_takes_the_saved_token_without_claiming_the_lease(
    make_connection, monkeypatch
):
    """A storm of waiters ends with one read each: after waking, a waiter reads the row
    before claiming the lease, instead of each taking and releasing it in turn."""
    connection = make_connection()
    expire(connection)
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        refresh_lease_holder="someone-else",
        refresh_lease_expires_at=timezone.now() + timedelta(seconds=30),
    )
    claims: list[bool] = []
    monkeypatch.setattr(tokens, "REFRESH_LEASE", CountedLease(tokens.REFRESH_LEASE, claims))

    token = tokens.get_access_token(
        connection=connection, config=CONFIG, sleep=another_process_finishes(connection)
    )

    assert token == "access-token-from-elsewhere"
    assert claims == [False]


@pytest.mark.django_db
@responses.activate
def test_expired_lease_of_a_dead_refresher_is_taken_over(make_connection):
    connection = make_connection()
    expire(connection)
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        refresh_lease_holder="crashed-worker",
        refresh_lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    responses.post(TOKEN_URL, body=token_body())

    assert tokens.get_access_token(connection=connection, config=CONFIG) == "access-token-2"


@pytest.mark.django_db
@responses.activate
def test_after_a_401_a_token_newer_than_the_rejected_one_is_fetched(make_connection):
    connection = make_connection(expires_in=3600)
    responses.post(TOKEN_URL, body=token_body())

    token = tokens.get_refreshed_access_token(
        connection=connection, rejected="access-token-1", config=CONFIG
    )

    assert token == "access-token-2"
    assert len(responses.calls) == 1


@pytest.mark.django_db
def test_no_transaction_is_open_during_the_refresh_call(make_connection, monkeypatch):
    connection = make_connection()
    expire(connection)
    seen: list[bool] = []

    def fake_refresh(*, config, refresh_token):
        # The test itself runs in a transaction (pytest-django); nothing beyond it may be open.
        seen.append(db_connection.in_atomic_block and len(db_connection.savepoint_ids) > 0)
        from integrations.klaviyo.oauth import TokenResponse

        return TokenResponse(
            access_token="access-token-2",
            refresh_token="refresh-token-2",
            expires_in=3600,
            scopes=DEFAULT_SCOPES,
            token_type="Bearer",
        )

    monkeypatch.setattr("integrations.tokens.oauth.refresh", fake_refresh)

    tokens.get_access_token(connection=connection, config=CONFIG)

    assert seen == [False]


@pytest.mark.django_db
@responses.activate
def test_a_disconnect_during_a_refresh_leaves_the_tokens_erased(make_connection):
    """The refresh's answer arrives after the organizer disconnected: it must not bring the
    erased tokens back."""
    from integrations.services import connection_disconnect

    connection = make_connection()
    expire(connection)
    responses.post("https://klaviyo.test/oauth/revoke", status=200)

    def refresh_answered_after_a_disconnect(request):
        connection_disconnect(
            connection=KlaviyoConnection.objects.get(pk=connection.pk), actor=None, config=CONFIG
        )
        return 200, {}, token_body()

    responses.add_callback("POST", TOKEN_URL, callback=refresh_answered_after_a_disconnect)

    with pytest.raises(ConnectionUnusable):
        tokens.get_access_token(connection=connection, config=CONFIG)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REVOKED
    assert connection.access_token is None
    assert connection.refresh_token is None
    assert not connection.events.filter(kind=EventKind.REFRESHED).exists()
