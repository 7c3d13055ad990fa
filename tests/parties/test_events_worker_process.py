"""Real `manage.py db_worker` processes sending a party's events while signups arrive, through
a Klaviyo outage, a 429 storm and a worker killed with SIGKILL mid-batch: every accepted signup
ends as exactly one `Registered for Party` event in Klaviyo (read from the sandbox's events),
and every event of the outbox ends delivered.

The workers are separate processes on the test database that reach the sandbox, served by the
live test server in this process, over HTTP, as they would in production. Time passes for
real, so the timings are short ones: a half-second window and read-back, a three-second lease.
The faults last a few seconds, not the issue's 30: a failed send backs the account off 5 s,
then 10 s, 20 s ... whatever the fault's length, so a 6 s outage, which outlasts the first
backoff, takes the same path twice as a 30 s one takes it four times (`make bench` runs the
full 30 s outage against the whole stack).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection as db_connection
from django.db import connections

from klaviyo_sandbox import event_views, testing
from klaviyo_sandbox.models import Event as SandboxEvent
from klaviyo_sandbox.models import EventJob
from parties import services
from parties.models import EventState, Party, PartyEvent, PartyMetric
from tests.support.parties import PARTY
from tests.support.processes import process_env, start_db_worker, worker_log
from tests.support.signups import signup
from tests.support.waiting import wait_until

LEASE_SECONDS = 3
WINDOW_SECONDS = 0.5
FAULT_SECONDS = 6
REGISTERED = str(PartyMetric.REGISTERED.label)
EVENT_WRITES = ("/api/events", "/api/event-bulk-create-jobs")

pytestmark = [
    pytest.mark.skipif(
        db_connection.vendor != "postgresql",
        reason="worker processes beside the test need a database server: PostgreSQL",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", "sandbox"]),
]


@pytest.fixture(autouse=True)
def quick(settings):
    # This process records the signups (and plans their runs a window later) and serves the
    # sandbox; the workers get the same timings through their environment.
    settings.EVENTS_SEND_WINDOW_SECONDS = WINDOW_SECONDS
    settings.PARTY_SYNC_WINDOW_SECONDS = WINDOW_SECONDS


@pytest.fixture
def party(owner, sandbox_connection) -> Party:
    """A new party of a connection to the sandbox: its list is made by the workers' first run."""
    connection = sandbox_connection(owner.organization)
    return services.party_create(membership=owner, connection=connection, data=PARTY)


@pytest.fixture
def workers(live_server, tmp_path) -> Iterator[Callable[[str], subprocess.Popen]]:
    """Start a named worker process; whichever are still alive are stopped at the end."""
    env = process_env(
        SANDBOX_URL=f"{live_server.url}/sandbox/klaviyo",
        EVENTS_SEND_WINDOW_SECONDS=str(WINDOW_SECONDS),
        PARTY_SYNC_WINDOW_SECONDS=str(WINDOW_SECONDS),
        PARTY_VERIFY_INTERVAL_SECONDS="0.5",
        PARTY_SYNC_LEASE_SECONDS=str(LEASE_SECONDS),
        # A short wait inside a call is taken there; Klaviyo's longer Retry-After reaches the
        # engine, which closes the account's send gate until then.
        KLAVIYO_MAX_RETRY_WAIT="1",
    )
    started: list[subprocess.Popen] = []

    def start(name: str) -> subprocess.Popen:
        started.append(start_db_worker(name, env=env, logs=tmp_path))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sign_up(party: Party, numbers: range, *, seconds: float = 0) -> list[str]:
    """A signup for each number, spread evenly over `seconds`: the addresses accepted. Runs
    in a thread of its own beside the workers (its database connection closed at the end)."""
    accepted = []
    started = time.monotonic()
    try:
        for index, number in enumerate(numbers):
            if (wait := started + index * seconds / len(numbers) - time.monotonic()) > 0:
                time.sleep(wait)
            accepted.append(signup(party, f"guest{number}@example.com").email)
    finally:
        connections.close_all()
    return accepted


def event_writes(status: int) -> int:
    return sum(testing.call_count("POST", path, status=status) for path in EVENT_WRITES)


def registered(party: Party):
    return PartyEvent.objects.filter(party=party, metric=PartyMetric.REGISTERED)


def states(party: Party) -> Counter[str]:
    return Counter(registered(party).values_list("state", flat=True))


def all_delivered(party: Party, accepted: list[str], logs: Path, *names: str) -> None:
    def details() -> str:
        return f"states: {dict(states(party))}\n" + "\n".join(
            worker_log(logs, name)() for name in names
        )

    wait_until(
        lambda: states(party) == {EventState.DELIVERED: len(accepted)},
        seconds=90,
        awaiting=f"all {len(accepted)} Registered for Party events delivered",
        details=details,
    )


def recorded_per_address() -> Counter[str]:
    """The `Registered for Party` events Klaviyo (the sandbox) recorded, per profile."""
    return Counter(
        SandboxEvent.objects.using("sandbox")
        .filter(metric__name=REGISTERED)
        .values_list("profile__email", flat=True)
    )


def accepted_per_unique_id() -> Counter[str]:
    """How many write calls Klaviyo accepted (202: an event job) carried each unique_id."""
    counts: Counter[str] = Counter()
    for events in EventJob.objects.using("sandbox").values_list("events", flat=True):
        counts.update(entry["unique_id"] for entry in events)
    return counts


def assert_exactly_one_event_per_signup(party: Party, accepted: list[str]) -> None:
    assert len(accepted) == len(set(accepted))
    assert recorded_per_address() == Counter(accepted)
    recorded_ids = SandboxEvent.objects.using("sandbox").values_list("unique_id", flat=True)
    assert sorted(recorded_ids) == sorted(registered(party).values_list("unique_id", flat=True))


def test_an_outage_during_a_rush_loses_no_event_and_records_none_twice(party, workers, tmp_path):
    names = [f"worker-{n}" for n in range(3)]
    for name in names:
        workers(name)
    with ThreadPoolExecutor(max_workers=1) as pool:
        rush = pool.submit(sign_up, party, range(150), seconds=8)
        wait_until(
            lambda: registered(party).exclude(state=EventState.WAITING).exists(),
            seconds=30,
            awaiting="the workers to send the rush's first events",
            details=worker_log(tmp_path, names[0]),
        )
        testing.start_outage(FAULT_SECONDS)
        accepted = rush.result()

    all_delivered(party, accepted, tmp_path, *names)
    assert event_writes(status=503) >= 1
    assert_exactly_one_event_per_signup(party, accepted)


def test_a_429_storm_during_a_rush_loses_no_event_and_records_none_twice(party, workers, tmp_path):
    names = [f"worker-{n}" for n in range(3)]
    for name in names:
        workers(name)
    with ThreadPoolExecutor(max_workers=1) as pool:
        rush = pool.submit(sign_up, party, range(150), seconds=8)
        wait_until(
            lambda: registered(party).exclude(state=EventState.WAITING).exists(),
            seconds=30,
            awaiting="the workers to send the rush's first events",
            details=worker_log(tmp_path, names[0]),
        )
        testing.start_throttle_storm(FAULT_SECONDS)
        accepted = rush.result()

    all_delivered(party, accepted, tmp_path, *names)
    assert event_writes(status=429) >= 1
    assert_exactly_one_event_per_signup(party, accepted)


def hold_first_event_write(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """The sandbox holds the first event write call it receives until `release` is set, then
    accepts it: (arrived, release). The sandbox answers in this process (the live server's
    thread), so the worker that made the call can be killed while it waits for the answer."""
    arrived, release = threading.Event(), threading.Event()

    def holding(create: Callable[..., EventJob]) -> Callable[..., EventJob]:
        def create_held(**kwargs: object) -> EventJob:
            if not arrived.is_set():
                arrived.set()
                release.wait(timeout=60)
            return create(**kwargs)

        return create_held

    for name in ("event_create", "event_bulk_create"):
        monkeypatch.setattr(event_views, name, holding(getattr(event_views, name)))
    return arrived, release


def test_a_worker_killed_mid_batch_leaves_no_event_missing_or_recorded_twice(
    party, workers, tmp_path, monkeypatch
):
    arrived, release = hold_first_event_write(monkeypatch)
    doomed = workers("doomed")
    try:
        accepted = sign_up(party, range(40))
        wait_until(
            arrived.is_set,
            seconds=30,
            awaiting="the worker to send its first batch of events",
            details=worker_log(tmp_path, "doomed"),
        )
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    # Killed mid-call: its claims stay `sending` under its lease; then Klaviyo accepts the
    # batch (202 to nobody), so its events exist there though the outbox never heard.
    stranded = set(
        registered(party).filter(state=EventState.SENDING).values_list("unique_id", flat=True)
    )
    assert stranded
    release.set()
    wait_until(
        lambda: EventJob.objects.using("sandbox").exists(),
        seconds=10,
        awaiting="the sandbox to accept the dead worker's batch",
    )

    survivors = ["survivor-1", "survivor-2"]
    for name in survivors:
        workers(name)
    accepted += sign_up(party, range(40, 100), seconds=3)

    all_delivered(party, accepted, tmp_path, *survivors)
    assert_exactly_one_event_per_signup(party, accepted)
    # The dead worker's batch was sent again (its outcome unknown), and recorded once.
    sends = accepted_per_unique_id()
    assert {sends[unique_id] for unique_id in stranded} == {2}
