"""Scenario 3, the refresh storm: many API calls at once on an expired access token.

A fresh organizer connects a fresh sandbox installation; then, for each of `STORMS` storms,
its access token is made expired on both sides (in the product's row and in the sandbox, so
the old token would be answered 401) and `PROCESSES` processes of `THREADS` threads each,
started with the stack's environment (same databases, same SANDBOX_URL), call Klaviyo at
the same moment: one `find_lists` (GET /api/lists, 75/s burst, so the storm fits one
second's budget) through the product's client, `integrations.clients.klaviyo_client`.
Every thread opens its database connection and builds its client before the storm; each
process reports ready, then the parent hands all of them one start time and each thread
sleeps until it.

Each caller holds a product database connection and its API call a sandbox one (the sandbox
keeps its connection through its latency), so a storm needs about two connections per
caller. When the PostgreSQL server has not that many free (leaving `CONNECTIONS_SPARE` for
everyone else), the storm has fewer threads per process and says so: 64 callers need
max_connections of about 150.

Per caller, measured in its own process (`python -m bench.storm`): the token wait (the time
inside the client's token fetch, `ConnectionTokenSource`), the whole call, success or the
error's type, whether it was the one that refreshed and how long its call to the token
endpoint took (`integrations.klaviyo.oauth.refresh`, timed from outside), and the SQL
statements it sent during its call (Django's execute_wrapper, so they are exact and only
the storm's): all of them, and those on the connection table (a waiter's lease claims and
re-reads).

Per storm: token-endpoint calls (the sandbox's call log: must be 1), failed calls (must be
0), the refresh's own time (the refreshing caller's token wait: from the storm's start until
it had saved the new token, which no waiter can beat; its token-endpoint call alone is shown
too, the sandbox's `--klaviyo-latency` included), the other callers' token wait p50 / p90 /
max, the slowest caller's whole call (the API call after the token included), the statements,
and the peak connections to the product's and the sandbox's databases (sampled every 20 ms).
Refresh waiters must not poll in a tight loop: the slowest token wait must stay within twice
the refresh's own time. Three storms, three of the ten refreshes Klaviyo allows a minute.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess  # the storm's own processes  # nosec B404
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, cast

from bench.fixtures import organizer_with_connection
from bench.load import percentile
from bench.stack import ROOT, Context, klaviyo_calls, target

PROCESSES = 4
THREADS = 16
STORMS = 3
# Connections left for everyone else (the stack, other clients) during a storm.
CONNECTIONS_SPARE = 10
# How long after the last process is ready the storm starts: enough for the parent to hand
# every process the start time first.
START_DELAY_SECONDS = 0.5


def run(context: Context) -> dict[str, Any]:
    """Run the storms against the running stack; print their table; the figures and targets."""
    connection_id = connection_create()
    storms = []
    for number in range(1, STORMS + 1):
        threads = callers_per_process(context)
        if threads < THREADS:
            print(
                f"refresh storm {number}: {PROCESSES * threads} calls, not "
                f"{PROCESSES * THREADS}: PostgreSQL's max_connections has no room for more "
                "(each caller needs a product and a sandbox connection)",
                flush=True,
            )
        storms.append(storm(context, connection_id, name=f"storm {number}", threads=threads))
        print(f"done: refresh storm {number}", flush=True)
    print_table(storms)
    return {"results": {"storms": storms}, "targets": targets(storms)}


def connection_create() -> int:
    """An organizer with a Klaviyo connection to a fresh sandbox installation."""
    from klaviyo_sandbox import testing

    # Not the account the other scenarios' parties use: expiring this installation's tokens
    # and spending its refresh and API budgets touch nobody else.
    _, connection = organizer_with_connection(name="Storm", account=testing.BARK)
    return connection.pk


def token_expire(connection_id: int) -> None:
    """Expired for the product (its row) and for Klaviyo (the sandbox rejects it)."""
    from django.utils import timezone

    from integrations.models import KlaviyoConnection
    from klaviyo_sandbox import testing
    from klaviyo_sandbox.models import Installation
    from klaviyo_sandbox.routers import DATABASE as SANDBOX

    connection = KlaviyoConnection.objects.get(pk=connection_id)
    connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    connection.save(update_fields=["access_token_expires_at"])
    installation = Installation.objects.using(SANDBOX).get(
        account_id=connection.klaviyo_account_id, uninstalled_at__isnull=True
    )
    testing.expire_access_tokens(installation)


def callers_per_process(context: Context) -> int:
    """THREADS, or fewer when the PostgreSQL server has not the connections for them all.

    Each caller holds a product connection, and its API call a sandbox one (the sandbox
    serves each request on a thread with its own connection, kept through its latency), so
    the whole storm needs twice as many connections as callers, plus room for everyone else.
    """
    import psycopg

    with psycopg.connect(f"{context.args.postgres.rstrip('/')}/postgres") as admin:
        row = admin.execute(
            "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend'"
        ).fetchone()
    free = row[0] if row else 0
    fit = min(THREADS, (free - CONNECTIONS_SPARE) // (2 * PROCESSES))
    if fit < 1:
        raise RuntimeError(f"PostgreSQL allows only {free} more connections: no room for a storm")
    return fit


@contextmanager
def connections_peak(context: Context) -> Iterator[dict[str, int]]:
    """The most connections the product's and the sandbox's databases had at once, sampled
    every 20 ms from a connection of its own."""
    import psycopg

    product = context.args.database
    names = {product: "product", f"{product}_sandbox": "sandbox"}
    peak = dict.fromkeys(names.values(), 0)
    done = threading.Event()

    def sample() -> None:
        with psycopg.connect(
            f"{context.args.postgres.rstrip('/')}/postgres", autocommit=True
        ) as admin:
            while not done.wait(0.02):
                for name, count in admin.execute(
                    "SELECT datname, count(*) FROM pg_stat_activity "
                    "WHERE datname = ANY(%s) GROUP BY datname",
                    [list(names)],
                ):
                    peak[names[name]] = max(peak[names[name]], count)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def storm(context: Context, connection_id: int, *, name: str, threads: int) -> dict[str, Any]:

    from integrations.models import ConnectionEvent, EventKind
    from klaviyo_sandbox import testing

    token_expire(connection_id)
    testing.clear_calls()
    refreshed = ConnectionEvent.objects.filter(
        connection_id=connection_id, kind=EventKind.REFRESHED
    )
    refreshed_before = refreshed.count()
    children = [child_start(context, connection_id, number, threads) for number in range(PROCESSES)]
    callers: list[dict[str, Any]] = []
    try:
        for process, log in children:
            if process.stdout is None or process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a storm process did not start:\n{log.read_text()[-3000:]}")
        with connections_peak(context) as peak:
            start = time.time() + START_DELAY_SECONDS
            for process, _ in children:
                stdin = cast("IO[str]", process.stdin)  # opened with a pipe
                stdin.write(f"{start}\n")
                stdin.close()
            for process, log in children:
                out = cast("IO[str]", process.stdout).read()  # opened with a pipe
                if process.wait() != 0:
                    raise RuntimeError(f"a storm process failed:\n{log.read_text()[-3000:]}")
                callers += json.loads(out.strip().splitlines()[-1])
    finally:
        for process, _ in children:
            if process.poll() is None:
                process.kill()
                process.wait()
    context.stack.check()

    calls = klaviyo_calls()
    refreshers = [c for c in callers if c["refreshed"]]
    waits = [c["token_s"] for c in callers if not c["refreshed"]]
    seconds = max(c["ended_at"] for c in callers) - min(c["began_at"] for c in callers)
    on_row = [c["connection_statements"] for c in callers]
    return {
        "storm": name,
        "callers": len(callers),
        "processes": PROCESSES,
        "token_endpoint_calls": testing.call_count("POST", "/oauth/token"),
        "refreshes_saved": refreshed.count() - refreshed_before,
        "calls_ok": sum(1 for c in callers if c["ok"]),
        "calls_failed": sum(1 for c in callers if not c["ok"]),
        "errors": dict(Counter(c["error"] for c in callers if not c["ok"])),
        "klaviyo_calls": dict(sorted(calls.items())),
        # The refreshing caller's token wait: from the storm's start until it had saved the
        # new token, which no waiter can beat.
        "refresh_s": round(max((c["token_s"] for c in refreshers), default=0.0), 3),
        # Its call to the token endpoint alone (the sandbox's latency included).
        "token_endpoint_s": round(max((c["refresh_s"] for c in refreshers), default=0.0), 3),
        "wait_p50_s": round(statistics.median(waits), 3) if waits else 0.0,
        "wait_p90_s": round(percentile(waits, 0.9), 3),
        "wait_max_s": round(max(waits, default=0.0), 3),
        "slowest_call_s": round(max(c["call_s"] for c in callers), 3),
        "storm_s": round(seconds, 3),
        "connection_statements": sum(on_row),
        "connection_statements_max_per_caller": max(on_row),
        "connection_statements_per_s": round(sum(on_row) / max(seconds, 0.001)),
        "statements": sum(c["statements"] for c in callers),
        "peak_connections": peak,
    }


def child_start(
    context: Context, connection_id: int, number: int, threads: int
) -> tuple[subprocess.Popen[str], Path]:
    log = context.stack.logdir / f"storm-{number + 1}.log"
    with open(log, "ab") as stderr:
        # This interpreter running this module: no shell, no outside input.
        process = subprocess.Popen(  # noqa: S603  # nosec B603
            [
                sys.executable,
                "-m",
                "bench.storm",
                f"--connection={connection_id}",
                f"--threads={threads}",
            ],
            cwd=ROOT,
            env=context.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    return process, log


def targets(storms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    refreshes = [s["token_endpoint_calls"] for s in storms]
    failed = [s["calls_failed"] for s in storms]
    worst = max(storms, key=lambda s: s["wait_max_s"] / max(s["refresh_s"], 0.001))
    ratio = worst["wait_max_s"] / max(worst["refresh_s"], 0.001)
    sizes = sorted({s["callers"] for s in storms})
    shape = f"{len(storms)} storms of {'-'.join(map(str, sizes))} calls over {PROCESSES} processes"
    if sizes[0] < PROCESSES * THREADS:
        shape += f", not {PROCESSES * THREADS}: max_connections"
    return [
        target(
            "Exactly 1 refresh per storm",
            all(n == 1 for n in refreshes),
            f"{', '.join(map(str, refreshes))} token-endpoint calls ({shape})",
        ),
        target(
            "0 failed calls in a refresh storm",
            not any(failed),
            f"{', '.join(map(str, failed))} failed ({shape})",
        ),
        target(
            "Refresh waiters do not poll the database in a tight loop: the storm's slowest "
            "caller within 2x the refresh's own time",
            ratio <= 2,
            f"slowest token wait {worst['wait_max_s']} s for a {worst['refresh_s']} s refresh "
            f"({ratio:.2f}x, worst of {len(storms)}); "
            f"{worst['connection_statements']} connection-row statements "
            f"(at most {worst['connection_statements_max_per_caller']} per caller)",
        ),
    ]


def _klaviyo_calls_of(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda s: str(s["klaviyo_calls"].get(key, 0))


def print_table(storms: list[dict[str, Any]]) -> None:
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("calls (processes)", lambda s: f"{s['callers']} ({s['processes']})"),
        ("token-endpoint calls", lambda s: str(s["token_endpoint_calls"])),
        ("calls OK / failed", lambda s: f"{s['calls_ok']} / {s['calls_failed']}"),
        ("refresh s (storm start -> saved)", lambda s: str(s["refresh_s"])),
        ("  its token-endpoint call s", lambda s: str(s["token_endpoint_s"])),
        (
            "token wait p50 / p90 / max s",
            lambda s: f"{s['wait_p50_s']} / {s['wait_p90_s']} / {s['wait_max_s']}",
        ),
        (
            "slowest wait / refresh",
            lambda s: f"{s['wait_max_s'] / max(s['refresh_s'], 0.001):.2f}x",
        ),
        ("slowest whole call s", lambda s: str(s["slowest_call_s"])),
        ("storm s (first start -> last end)", lambda s: str(s["storm_s"])),
        (
            "connection-row statements (max/caller)",
            lambda s: f"{s['connection_statements']} ({s['connection_statements_max_per_caller']})",
        ),
        ("  per second of storm", lambda s: str(s["connection_statements_per_s"])),
        ("SQL statements, all tables", lambda s: str(s["statements"])),
        (
            "peak connections product / sandbox",
            lambda s: f"{s['peak_connections']['product']} / {s['peak_connections']['sandbox']}",
        ),
    ]
    keys = sorted({key for s in storms for key in s["klaviyo_calls"]})
    rows += [(f"Klaviyo: {key}", _klaviyo_calls_of(key)) for key in keys]
    cells = [[value(s) for s in storms] for _, value in rows]
    width = max(len(label) for label, _ in rows) + 2
    columns = [
        max(len(s["storm"]), *(len(row[i]) for row in cells)) + 2 for i, s in enumerate(storms)
    ]
    print()
    print(
        "refresh storm".ljust(width)
        + "".join(s["storm"].rjust(c) for s, c in zip(storms, columns, strict=True))
    )
    for (label, _), row in zip(rows, cells, strict=True):
        print(label.ljust(width) + "".join(v.rjust(c) for v, c in zip(row, columns, strict=True)))


# --- One storm process ------------------------------------------------------------------------


def child(connection_id: int, threads: int) -> None:
    """`threads` callers, ready once connected, released at the start time read on stdin;
    prints their records as one JSON line."""
    import django

    django.setup()
    from django.db import connection as database

    from integrations import clients
    from integrations.klaviyo import oauth
    from integrations.models import KlaviyoConnection

    local = threading.local()
    table = KlaviyoConnection._meta.db_table

    def timed(function: Callable[..., Any], field: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.monotonic()
            try:
                return function(*args, **kwargs)
            finally:
                setattr(local, field, getattr(local, field, 0.0) + time.monotonic() - began)

        return wrapper

    def count_statements(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        local.statements += 1
        if table in sql:
            local.connection_statements += 1
        return execute(sql, params, many, context)

    # The client's token fetch (proactive, and after a 401) and the refresh grant itself.
    source = clients.ConnectionTokenSource
    source.access_token = timed(  # type: ignore[method-assign]  # timed in place
        source.access_token, "token_s"
    )
    source.refreshed_access_token = timed(  # type: ignore[method-assign]  # timed in place
        source.refreshed_access_token, "token_s"
    )
    oauth.refresh = timed(oauth.refresh, "refresh_s")

    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    start = [0.0]
    records: list[dict[str, Any]] = []
    lock = threading.Lock()

    def caller() -> None:
        try:
            row = KlaviyoConnection.objects.get(pk=connection_id)  # opens its connection
            client = clients.klaviyo_client(connection=row)
        except Exception:
            ready.abort()  # the process fails instead of waiting for this thread forever
            raise
        ready.wait()
        go.wait()
        time.sleep(max(0.0, start[0] - time.time()))
        local.statements = local.connection_statements = 0
        began_at, began = time.time(), time.monotonic()
        error = ""
        try:
            with database.execute_wrapper(count_statements):
                client.find_lists(name="Partyline refresh storm")
        except Exception as failure:  # reported, by type
            error = type(failure).__name__
        call_s = time.monotonic() - began
        record = {
            "ok": not error,
            "error": error,
            "token_s": getattr(local, "token_s", 0.0),
            "refresh_s": getattr(local, "refresh_s", 0.0),
            "refreshed": hasattr(local, "refresh_s"),
            "call_s": call_s,
            "began_at": began_at,
            "ended_at": began_at + call_s,
            "connection_statements": local.connection_statements,
            "statements": local.statements,
        }
        with lock:
            records.append(record)
        database.close()

    workers = [threading.Thread(target=caller) for _ in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait()
    print("ready", flush=True)
    start[0] = float(sys.stdin.readline())
    go.set()
    for worker in workers:
        worker.join()
    print(json.dumps(records), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="One process of the refresh storm.")
    parser.add_argument("--connection", type=int, required=True)
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args()
    child(args.connection, args.threads)


if __name__ == "__main__":
    main()
