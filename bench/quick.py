"""Signup rush benchmark, in-process: prints figures, asserts nothing.

Two rush shapes, each through the real public form (Django's WSGI stack, in-process, several
posting threads) into the sandbox Klaviyo, which runs its jobs after a realistic delay:

- **pre-filled queue**: every signup is posted first, then a worker drains them;
- **sustained rush**: signups arrive at a steady rate over `--rush-seconds` while a worker
  runs, which is what a widely shared link produces.

Both wait until every attendee is confirmed in the Klaviyo list (read back, not assumed from
a 202) and every `Registered for Party` event is delivered (read back too), and count Klaviyo
calls from the sandbox's call log: write calls (bulk import, bulk subscribe) and read calls
(job status, import errors, list membership, consent) per 1,000 attendees, and the events'
write calls (single and bulk create) per 1,000. A third column posts the pre-filled queue to
a party with places for 10% of the signups and its waitlist on: the registered confirmed in
the list and the waitlisted in Klaviyo outside it, their `Registered for Party` and `Joined
Party Waitlist` delivered, and its places as `make bench` checks them (bench.rush). A fourth
posts the pre-filled queue with the signup's event left out
(`bench.views.without_registered_event`, in this process only): the signups/s beside the
first column's are what the events outbox costs the signup path.
Run with `make bench-quick` (`python -m bench.quick`; SQLite in a temporary directory) or
point DATABASE_URL / SANDBOX_DATABASE_URL at PostgreSQL.

    make bench-quick BENCH_ARGS="--signups 2000 --rush-seconds 20 --threads 8"
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.fixtures import make_party
from bench.load import percentile
from bench.rush import (
    CAPPED_SHARE,
    in_klaviyo_as_placed,
    places_report,
    places_rows,
    signup_events,
)

WRITES = {
    "bulk import": ("POST", "/api/profile-bulk-import-jobs"),
    "bulk subscribe": ("POST", "/api/profile-subscription-bulk-create-jobs"),
}
EVENT_WRITES = {
    "event create": ("POST", "/api/events"),
    "event bulk create": ("POST", "/api/event-bulk-create-jobs"),
}
READS = {
    "job status and import errors": ("GET", "/api/profile-bulk-import-jobs/"),
    "list membership": ("GET", "/api/lists/"),
    "consent": ("GET", "/api/profiles"),
}


def configure(workdir: Path) -> None:
    # The test settings serve static files without `collectstatic`; the pipeline's timings
    # are set back to the product's defaults below.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ.setdefault("SANDBOX_DATABASE_URL", f"sqlite:///{workdir / 'bench-sandbox.sqlite3'}")
    # A rush from one machine: lift the per-address limit the public form normally applies.
    os.environ.setdefault("SIGNUP_RATE_PER_IP", "1000000/m")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # What a deployment runs with (the test suite shortens these).
    settings.PARTY_VERIFY_INTERVAL_SECONDS = float(
        os.environ.get("PARTY_VERIFY_INTERVAL_SECONDS", "3")
    )
    settings.SANDBOX_JOB_SECONDS = float(os.environ.get("SANDBOX_JOB_SECONDS", "1.5"))

    call_command("migrate", verbosity=0)
    call_command("migrate", database="sandbox", verbosity=0)


@dataclass
class Result:
    shape: str
    signups: int
    accepted: int
    signups_per_s: float
    signup_p50_ms: float
    signup_p99_ms: float
    confirmed: int
    seconds_to_confirm_after_last_signup: float
    write_calls: int
    read_calls: int
    writes_per_1000: float
    reads_per_1000: float
    events_delivered: int
    seconds_to_deliver_events_after_last_signup: float | None
    event_write_calls: int
    event_writes_per_1000: float
    calls: dict[str, int]
    # A capped party's places after the rush (bench.rush.places_report); None uncapped.
    places: dict[str, Any] | None = None


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quick", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--signups", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rush-seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=120.0, help="per shape, after posting")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        configure(Path(workdir))
        from django.conf import settings
        from django.db import connection

        print(
            f"database: {connection.vendor}; {args.signups} signups per shape from "
            f"{args.threads} threads; window {settings.PARTY_SYNC_WINDOW_SECONDS:g} s, "
            f"sandbox jobs take {settings.SANDBOX_JOB_SECONDS:g} s, read-back after "
            f"{settings.PARTY_VERIFY_INTERVAL_SECONDS:g} s"
        )
        results = [
            run_shape("pre-filled queue", args, rush_seconds=0.0),
            run_shape(f"sustained rush over {args.rush_seconds:g} s", args, args.rush_seconds),
            run_shape(
                f"pre-filled, capacity {CAPPED_SHARE:.0%}",
                args,
                rush_seconds=0.0,
                capacity=max(1, round(args.signups * CAPPED_SHARE)),
            ),
            run_shape("pre-filled, no events", args, rush_seconds=0.0, events=False),
        ]
        print_table(results, settings, args.rush_seconds)
        print(json.dumps({"benchmark": "signup-rush", "results": [asdict(r) for r in results]}))


def run_shape(
    shape: str,
    args: argparse.Namespace,
    rush_seconds: float,
    *,
    events: bool = True,
    capacity: int | None = None,
) -> Result:
    """One shape on a fresh party; `events` False posts with the signup's event left out;
    `capacity`: the party's places, the waitlist on (None: no limit)."""
    from django.db import connections

    from bench.views import without_registered_event
    from klaviyo_sandbox import testing
    from parties.models import Attendee, EventState
    from tests.support.workers import make_worker

    with testing.route_requests_to_sandbox():
        party = make_party(shape, capacity=capacity, waitlist=True)
        url = f"/p/{party.slug}/"
        testing.clear_calls()
        worker = make_worker(f"bench-{time.monotonic_ns()}", batch=False, interval=0.05)
        worker_thread: threading.Thread | None = None

        def start_worker() -> threading.Thread:
            def run() -> None:
                try:
                    worker.run()
                finally:
                    connections.close_all()

            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            return thread

        if rush_seconds:
            worker_thread = start_worker()
        began = time.monotonic()
        with without_registered_event() if not events else nullcontext():
            latencies, statuses = post_signups(url, args.signups, args.threads, rush_seconds)
        posted_at = time.monotonic()
        if worker_thread is None:
            worker_thread = start_worker()
        attendees = Attendee.objects.filter(party=party)
        placed = in_klaviyo_as_placed(attendees)
        delivered = signup_events(party).filter(state=EventState.DELIVERED)
        expected_events = len(latencies) if events else 0
        events_at: float | None = None
        while time.monotonic() - posted_at < args.timeout:
            if events_at is None and delivered.count() >= expected_events:
                events_at = time.monotonic()
            if placed.count() >= len(latencies) and events_at is not None:
                break
            time.sleep(0.2)
        settled = time.monotonic() - posted_at
        worker.running = False
        worker_thread.join(timeout=10)
        confirmed = placed.count()
        calls = {
            name: testing.call_count(*call)
            for name, call in {**WRITES, **READS, **EVENT_WRITES}.items()
        }
        calls["answered 429"] = sum(1 for call in testing.calls() if call.status == 429)
        in_list = {m["email"] for m in testing.list_members(party.klaviyo_list_id)}
    # Job status calls share a prefix with nothing else; list reads are the membership reads.
    writes = sum(calls[name] for name in WRITES)
    reads = sum(calls[name] for name in READS)
    event_writes = sum(calls[name] for name in EVENT_WRITES)
    ms = [value * 1000 for value in latencies]
    accepted = sum(count for status, count in statuses.items() if status in (302, 303))
    per = 1000 / max(confirmed, 1)
    return Result(
        shape=shape,
        signups=args.signups,
        accepted=accepted,
        signups_per_s=round(accepted / (posted_at - began), 1),
        signup_p50_ms=round(statistics.median(ms), 1),
        signup_p99_ms=round(percentile(ms, 0.99), 1),
        confirmed=confirmed,
        seconds_to_confirm_after_last_signup=round(settled, 1),
        write_calls=writes,
        read_calls=reads,
        writes_per_1000=round(writes * per, 1),
        reads_per_1000=round(reads * per, 1),
        events_delivered=delivered.count(),
        seconds_to_deliver_events_after_last_signup=(
            round(events_at - posted_at, 1) if events_at is not None and events else None
        ),
        event_write_calls=event_writes,
        event_writes_per_1000=round(event_writes * 1000 / max(accepted, 1), 1),
        calls=calls,
        places=places_report(party, accepted, in_list) if capacity else None,
    )


def post_signups(
    url: str, signups: int, threads: int, rush_seconds: float
) -> tuple[list[float], dict[int, int]]:
    """Post every signup as a browser would (page, then form); spread evenly over
    `rush_seconds` when it is not zero."""
    from django.db import connections
    from django.test import Client

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    started = time.monotonic()
    interval = rush_seconds / signups if rush_seconds else 0.0
    local = threading.local()

    def post(number: int) -> None:
        due = started + number * interval
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        client: Client | None = getattr(local, "client", None)
        if client is None:
            client = local.client = Client()
            client.get(url)  # the page and its CSRF cookie
        began = time.perf_counter()
        response = client.post(
            url,
            {
                "first_name": "Guest",
                "last_name": str(number),
                "email": f"guest{number}@example.com",
                "pet_name": "Rex",
                "pet_type": "dog",
                "marketing_consent": "on",
                "website": "",
            },
        )
        elapsed = time.perf_counter() - began
        with lock:
            latencies.append(elapsed)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    def run(numbers: range) -> None:
        try:
            for number in numbers:
                post(number)
        finally:
            connections.close_all()

    slices = [range(n, signups, threads) for n in range(threads)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(run, slices))
    return latencies, statuses


def print_table(results: list[Result], settings: Any, rush_seconds: float) -> None:
    window = settings.PARTY_SYNC_WINDOW_SECONDS
    events_window = settings.EVENTS_SEND_WINDOW_SECONDS
    rows: list[tuple[str, Sequence[object]]] = [
        ("signups accepted", [f"{r.accepted}/{r.signups}" for r in results]),
        ("signups/s while posting", [r.signups_per_s for r in results]),
        ("signup p50 / p99 ms", [f"{r.signup_p50_ms} / {r.signup_p99_ms}" for r in results]),
        ("confirmed in Klaviyo as placed", [r.confirmed for r in results]),
        (
            "s to confirm after last signup",
            [r.seconds_to_confirm_after_last_signup for r in results],
        ),
        *((f"  {name} calls", [r.calls[name] for r in results]) for name in {**WRITES, **READS}),
        ("  calls answered 429", [r.calls["answered 429"] for r in results]),
        ("Klaviyo write calls / 1,000", [r.writes_per_1000 for r in results]),
        ("Klaviyo read calls / 1,000", [r.reads_per_1000 for r in results]),
        ("events delivered", [r.events_delivered for r in results]),
        (
            "s to deliver events after last signup",
            [
                "-"
                if r.seconds_to_deliver_events_after_last_signup is None
                else (r.seconds_to_deliver_events_after_last_signup)
                for r in results
            ],
        ),
        *((f"  {name} calls", [r.calls[name] for r in results]) for name in EVENT_WRITES),
        ("event write calls / 1,000", [r.event_writes_per_1000 for r in results]),
        *places_rows([asdict(r) for r in results]),
    ]
    width = max(len(label) for label, _ in rows) + 2
    columns = [max(len(r.shape), 12) + 2 for r in results]
    print()
    print(
        "".ljust(width) + "".join(r.shape.rjust(c) for r, c in zip(results, columns, strict=True))
    )
    for label, values in rows:
        print(
            label.ljust(width)
            + "".join(str(v).rjust(c) for v, c in zip(values, columns, strict=True))
        )
    windows = math.ceil(rush_seconds / window) + 1 if window else 0
    print()
    print(
        f"The window rule allows at most 2 write calls per {window:g} s window while a rush "
        f"lasts ({2 * windows} for {rush_seconds:g} s), and 2 per 1,000 from a pre-filled queue; "
        "a batch with waitlisted people in it adds one consent-only subscribe."
    )
    print("The seed design's synchronous relay makes 2 write calls per signup: 2,000 per 1,000.")
    event_windows = math.ceil(rush_seconds / events_window) + 1 if events_window else 0
    print(
        f"Events: at most 1 write call per {events_window:g} s window while a rush lasts "
        f"({event_windows} for {rush_seconds:g} s), and 1 per 1,000 from a pre-filled queue."
    )
    with_events, without = results[0].signups_per_s, results[-1].signups_per_s
    print(
        f"The events outbox costs the signup path {1 - with_events / max(without, 0.001):.1%} "
        f"of its signups/s ({with_events} with, {without} without; target: at most 10%)."
    )


if __name__ == "__main__":
    main()
