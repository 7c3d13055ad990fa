"""Single-flight refresh with real threads: one refresh at Klaviyo however many callers wait."""

from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from django.db import connections
from django.utils import timezone

from integrations import tokens
from integrations.clients import klaviyo_client
from integrations.klaviyo.ratelimits import MINUTE
from integrations.models import EventKind, KlaviyoConnection
from integrations.refresh_budget import REFRESH_BUDGET
from klaviyo_sandbox import oauth as sandbox_oauth
from klaviyo_sandbox import ratelimit, testing
from klaviyo_sandbox.models import Installation
from tests.support.connect_flow import connect_through_sandbox
from tests.support.database import skip_without_connections
from tests.support.leases import CountedLease
from tests.support.refresh_budget import count_refreshes, refresh_budget_on
from tests.support.waiting import wait_until

THREADS = 50


@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_fifty_threads_with_an_expired_token_cause_exactly_one_refresh(login, owner, sandbox):
    skip_without_connections(THREADS)
    connect_through_sandbox(login(owner))
    connection = KlaviyoConnection.objects.get()
    # The token is dead on both sides: Klaviyo rejects it and our expiry says so.
    testing.expire_access_tokens(Installation.objects.using("sandbox").get())
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(minutes=1)
    )
    token_calls_before = testing.call_count("POST", "/oauth/token")

    def call_klaviyo(_: int) -> int:
        try:
            client = klaviyo_client(connection=connection)
            return len(client.find_lists(name="Party"))
        finally:
            for alias in connections:
                connections[alias].close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(call_klaviyo, range(THREADS)))

    assert len(results) == THREADS  # every call succeeded (an exception would have raised)
    assert testing.call_count("POST", "/oauth/token") - token_calls_before == 1
    assert testing.call_count("GET", "/api/lists", status=200) == THREADS
    connection.refresh_from_db()
    assert connection.events.filter(kind=EventKind.REFRESHED).count() == 1
    assert connection.refresh_lease_expires_at is None


def slow_token_endpoint(monkeypatch, seconds: float) -> list[float]:
    """Every refresh call takes `seconds` longer (Klaviyo's own time); returns their durations."""
    from integrations.klaviyo import oauth

    original = oauth.refresh
    durations: list[float] = []

    def refresh(**kwargs):
        started = time.monotonic()
        time.sleep(seconds)
        try:
            return original(**kwargs)
        finally:
            durations.append(time.monotonic() - started)

    monkeypatch.setattr(oauth, "refresh", refresh)
    return durations


def refreshes_arriving(monkeypatch, clock, seconds: float) -> list[float]:
    """Every refresh call takes `seconds` (Klaviyo's own time); returns when each arrived at
    Klaviyo, on `clock`."""
    from integrations.klaviyo import oauth

    original = oauth.refresh
    arrivals: list[float] = []

    def refresh(**kwargs):
        arrivals.append(clock())
        time.sleep(seconds)
        return original(**kwargs)

    monkeypatch.setattr(oauth, "refresh", refresh)
    return arrivals


@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_fifty_forced_refreshes_across_a_minute_reach_klaviyo_at_most_ten_times_in_each(
    sandbox, sandbox_connection, monkeypatch
):
    """Klaviyo: at most 10 refreshes a minute per installation, in fixed windows. Fifty
    refreshes are forced (refresh_now: operators, keep-alive) from fifty threads over two
    seconds, across the end of one of Klaviyo's minutes whose ten are nearly used: whoever
    must wait, waits for the next minute, no minute gets more than ten, and every caller gets
    a token Klaviyo accepts."""
    skip_without_connections(THREADS)
    connection = sandbox_connection()
    # Klaviyo's clock here: one of its minutes ends a second after the threads begin. (The
    # sandbox's frozen clock would put every refresh in one minute: it does not judge.)
    now = time.time()
    offset = math.ceil(now / MINUTE) * MINUTE + MINUTE - 1 - now

    def clock() -> float:
        return time.time() + offset

    first_minute = math.floor(clock() / MINUTE)
    monkeypatch.setattr(sandbox_oauth, "REFRESH_LIMIT", ratelimit.Limit(count=1000, window=60))
    refresh_budget_on(monkeypatch, clock)
    count_refreshes(connection, REFRESH_BUDGET - 2)  # this minute's earlier refreshes
    arrivals = refreshes_arriving(monkeypatch, clock, 0.2)
    token_calls_before = testing.call_count("POST", "/oauth/token")

    def force_refresh(number: int) -> str:
        time.sleep(number * 0.04)  # the fifty arrive over two seconds, as the test says
        try:
            return tokens.refresh_now(connection=connection)
        finally:
            for alias in connections:
                connections[alias].close()

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        issued = list(pool.map(force_refresh, range(THREADS)))

    assert time.monotonic() - began < 30  # nobody waited out a whole minute
    per_minute = Counter(math.floor(arrival / MINUTE) for arrival in arrivals)
    assert per_minute[first_minute] <= 2, per_minute  # the minute had two refreshes left
    assert set(per_minute) <= {first_minute, first_minute + 1}, per_minute
    assert 1 <= per_minute[first_minute + 1] <= REFRESH_BUDGET, per_minute
    refreshes = testing.call_count("POST", "/oauth/token") - token_calls_before
    assert refreshes == len(arrivals)
    assert all(sandbox_oauth.access_token_authenticate(token) for token in issued)
    connection.refresh_from_db()
    assert connection.events.filter(kind=EventKind.REFRESHED).count() == refreshes
    assert connection.refresh_lease_expires_at is None


@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_a_storm_of_waiters_polls_with_backoff_and_ends_soon_after_the_refresh(
    sandbox, sandbox_connection, monkeypatch
):
    """64 callers find the token expired; one refreshes (Klaviyo takes a second), the others
    wait. They re-read the row at growing intervals, not every few milliseconds, and the
    slowest has its token within about twice the refresh's own time."""
    threads = 64
    skip_without_connections(threads)
    connection = sandbox_connection()
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(minutes=1)
    )
    durations = slow_token_endpoint(monkeypatch, 1.0)
    claims: list[bool] = []
    monkeypatch.setattr(tokens, "REFRESH_LEASE", CountedLease(tokens.REFRESH_LEASE, claims))
    # Open every thread's database connection before the storm starts.
    barrier = Barrier(threads)

    def call(_: int) -> float:
        try:
            KlaviyoConnection.objects.filter(pk=connection.pk).exists()
            barrier.wait()
            began = time.monotonic()
            tokens.get_access_token(connection=connection)
            return time.monotonic() - began
        finally:
            for alias in connections:
                connections[alias].close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        waited = list(pool.map(call, range(threads)))

    assert len(durations) == 1  # single-flight: one refresh
    refresh_took = durations[0]
    assert max(waited) <= 2 * refresh_took + 0.5, (max(waited), refresh_took)
    # Polling every 50 ms would be some 20 reads per waiter in this second; backoff needs ~8.
    assert len(claims) <= threads * 12, len(claims)


def refresh_with_waiters(connection: KlaviyoConnection, *, waiters: int) -> dict[str, object]:
    """One caller refreshes; once it holds the lease, `waiters` more callers want a token.
    When each got it, and the channels its database connection still listens to after."""
    refreshed: dict[str, object] = {}

    def refresh() -> None:
        try:
            refreshed["token"] = tokens.get_access_token(connection=connection)
            refreshed["at"] = time.monotonic()
        finally:
            for alias in connections:
                connections[alias].close()

    def wait(_: int) -> tuple[str, float, list[str]]:
        try:
            token = tokens.get_access_token(connection=connection)
            at = time.monotonic()
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_listening_channels()")
                channels = [row[0] for row in cursor.fetchall()]
            return token, at, channels
        finally:
            for alias in connections:
                connections[alias].close()

    with ThreadPoolExecutor(max_workers=waiters + 1) as pool:
        refresher = pool.submit(refresh)
        wait_until(
            lambda: KlaviyoConnection.objects.get(pk=connection.pk).refresh_lease_holder,
            seconds=10,
            awaiting="the first caller to hold the refresh lease",
        )
        results = list(pool.map(wait, range(waiters)))
        refresher.result()
    return {"refreshed": refreshed, "waiters": results}


def skip_without_listen_notify() -> None:
    if connections["default"].vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite waiters poll")


@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_on_postgresql_waiters_wake_as_the_new_token_is_saved(
    sandbox, sandbox_connection, monkeypatch
):
    """The refresher's NOTIFY wakes every waiter when the token lands: none sleeps out its
    poll delay (ten seconds here) after a half-second refresh."""
    skip_without_listen_notify()
    skip_without_connections(10)
    connection = sandbox_connection()
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(minutes=1)
    )
    durations = slow_token_endpoint(monkeypatch, 0.5)
    monkeypatch.setattr(tokens, "backoff_delay", lambda *_args, **_kwargs: 10.0)

    storm = refresh_with_waiters(connection, waiters=8)

    assert len(durations) == 1
    refreshed = storm["refreshed"]
    for token, at, _ in storm["waiters"]:
        assert token == refreshed["token"]
        assert at - refreshed["at"] < 1.0


@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_on_postgresql_a_waiter_stops_listening_once_it_has_its_token(
    sandbox, sandbox_connection, monkeypatch
):
    """Database connections outlive the call (CONN_MAX_AGE): a waiter must not leave its
    connection subscribed to the connection's channel."""
    skip_without_listen_notify()
    skip_without_connections(4)
    connection = sandbox_connection()
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(minutes=1)
    )
    slow_token_endpoint(monkeypatch, 0.3)

    storm = refresh_with_waiters(connection, waiters=2)

    assert [channels for _, _, channels in storm["waiters"]] == [[], []]
