"""Signup rush on the stack a user runs at scale: prints figures, asserts nothing.

`make bench` starts, on this machine, and stops again everything it started:

- PostgreSQL databases `partyline_bench` (the product) and `partyline_bench_sandbox` (the
  sandbox Klaviyo), created on the server answering on 127.0.0.1:5432 and dropped at the end;
- Redis db 11 on 127.0.0.1:6379 as CACHE_URL (the rate-limit counters), flushed before and after;
- the sandbox Klaviyo in its own process (`manage.py sandbox_server`), every API call slowed
  by its latency fault (`--klaviyo-latency`, 0.1 s) and held to Klaviyo's rate limits;
- gunicorn (`config.wsgi`, WEB_CONCURRENCY=3 sync workers) and two `manage.py db_worker`.

The load is `bench/load.py` in a process of its own: 32 clients over real HTTP, each a GET of
the form then a POST with its CSRF token, from its own X-Forwarded-For address. Scenario 1,
per shape (as fast as possible; evenly over 20 s), on a fresh party: accepted signups/s,
POST latency, errors by status, seconds until every accepted attendee is "In the list"
(polled in the product database), Klaviyo calls by endpoint and status from the sandbox's
call log, and lost / duplicated attendees (both must be 0). Scenario 2, the baselines, under
the same load as fast as possible, served by the same gunicorn through bench-only settings
(bench/settings.py, bench/urls.py): a bare one-INSERT view, and a synchronous relay making
its two Klaviyo calls while the visitor waits (bench/views.py). A table, then one JSON line.

    make bench BENCH_ARGS="--signups 2000 --clients 32 --spread 20"
"""

# ruff: noqa: T201 (its job is to print figures)
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess  # starts the stack it benchmarks  # nosec B404
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
GUNICORN = str(Path(PY).with_name("gunicorn"))
DATABASE = "partyline_bench"
SANDBOX_DATABASE = "partyline_bench_sandbox"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_env(args: argparse.Namespace, sandbox_port: int) -> dict[str, str]:
    server = args.postgres.rstrip("/")
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "partyline-bench-secret-key-not-for-production-0123456789",
        "SALT_KEY": "partyline-bench-salt",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "TRUSTED_PROXIES": "127.0.0.1",
        "SIGNUP_RATE_PER_IP": "1000000/m",
        "KLAVIYO_SANDBOX": "true",
        "SANDBOX_URL": f"http://127.0.0.1:{sandbox_port}",
        "DATABASE_URL": f"{server}/{DATABASE}",
        "SANDBOX_DATABASE_URL": f"{server}/{SANDBOX_DATABASE}",
        "CACHE_URL": args.redis,
        "WEB_CONCURRENCY": str(args.web_concurrency),
        "LOG_LEVEL": "WARNING",
    }


def admin_sql(args: argparse.Namespace, *statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{args.postgres.rstrip('/')}/postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def databases_create(args: argparse.Namespace) -> None:
    databases_drop(args)
    admin_sql(args, f"CREATE DATABASE {DATABASE}", f"CREATE DATABASE {SANDBOX_DATABASE}")


def databases_drop(args: argparse.Namespace) -> None:
    admin_sql(
        args,
        f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",
        f"DROP DATABASE IF EXISTS {SANDBOX_DATABASE} WITH (FORCE)",
    )


def redis_flush(args: argparse.Namespace) -> None:
    import redis

    redis.Redis.from_url(args.redis).flushdb()


class Stack:
    """The processes it started, each logging to a file in `logdir`; `stop()` ends them."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        # The bench's own fixed commands (this interpreter, manage.py, gunicorn); no shell.
        process = subprocess.Popen(  # noqa: S603  # nosec B603
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append((name, process))

    def check(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        text = (self.logdir / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_http(url: str, stack: Stack, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stack.check()
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (a local http URL)  # nosec B310
                return
        except OSError as error:
            if getattr(error, "code", None):  # an HTTP answer (404 at a bare root) is up
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:g} s")


def make_party(name: str):  # type: ignore[no-untyped-def]
    """The benchmark's party, made as the in-process benchmark makes it."""
    from benchmark import make_party as make_benchmark_party  # scripts/ is on sys.path

    party = make_benchmark_party(name)
    party.refresh_from_db()
    return party


def run_shape(
    name: str, spread: float, args: argparse.Namespace, base_url: str, stack: Stack
) -> dict[str, object]:
    from django.db.models import Count

    from klaviyo_sandbox import testing
    from klaviyo_sandbox.models import CallLog
    from klaviyo_sandbox.routers import DATABASE as SANDBOX
    from parties.models import Attendee, SyncState

    party = make_party(name)
    testing.clear_calls()
    tag = f"s{int(spread)}-{time.time_ns()}"
    load = subprocess.run(  # noqa: S603 (bench/load.py)  # nosec B603
        [
            PY,
            str(ROOT / "bench" / "load.py"),
            f"--url={base_url}/p/{party.slug}/",
            f"--signups={args.signups}",
            f"--clients={args.clients}",
            f"--spread={spread}",
            f"--tag={tag}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(load.stdout)
    accepted = set(result.pop("accepted_emails"))
    attendees = Attendee.objects.filter(party=party)
    settled_at = None
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        stack.check()
        if attendees.filter(sync_state=SyncState.SYNCED).count() >= len(accepted):
            settled_at = time.time()
            break
        time.sleep(0.25)
    states = dict(Counter(attendees.values_list("sync_state", flat=True)))
    rows = attendees.count()
    emails = set(attendees.values_list("email", flat=True))
    members = [m["email"] for m in testing.list_members(party.klaviyo_list_id)]
    in_list = set(members)
    calls = Counter()
    for row in (
        CallLog.objects.using(SANDBOX)
        .values("method", "operation", "status")
        .annotate(n=Count("id"))
    ):
        calls[f"{row['operation'] or row['method']} {row['status']}"] += row["n"]
    return {
        "shape": name,
        **result,
        "seconds_to_all_in_list_from_start": (
            round(settled_at - result["started_at"], 1) if settled_at else None
        ),
        "seconds_to_all_in_list_after_last_signup": (
            round(settled_at - result["ended_at"], 1) if settled_at else None
        ),
        "attendee_states": states,
        "klaviyo_calls": dict(sorted(calls.items())),
        "klaviyo_calls_total": sum(calls.values()),
        "klaviyo_429s": sum(n for key, n in calls.items() if key.endswith(" 429")),
        # Accepted (303) but missing from the product's database or from the Klaviyo list.
        "lost": len(accepted - emails) + len(accepted - in_list),
        # Rows beyond one per address, in the product's database and in the Klaviyo list.
        "duplicated": (rows - len(emails)) + (len(members) - len(in_list)),
    }


def run_baseline(
    name: str, path: str, args: argparse.Namespace, base_url: str
) -> dict[str, object]:
    """Scenario 2: a bench-only view (bench/views.py) under the same load, as fast as possible."""
    from django.db.models import Count

    from klaviyo_sandbox import testing
    from klaviyo_sandbox.models import CallLog
    from klaviyo_sandbox.routers import DATABASE as SANDBOX

    testing.clear_calls()
    load = subprocess.run(  # noqa: S603 (bench/load.py)  # nosec B603
        [
            PY,
            str(ROOT / "bench" / "load.py"),
            f"--url={base_url}{path}",
            f"--signups={args.signups}",
            f"--clients={args.clients}",
            f"--tag={name.split()[0]}-{time.time_ns()}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(load.stdout)
    result.pop("accepted_emails")
    calls: Counter[str] = Counter()
    for row in (
        CallLog.objects.using(SANDBOX)
        .values("method", "operation", "status")
        .annotate(n=Count("id"))
    ):
        calls[f"{row['operation'] or row['method']} {row['status']}"] += row["n"]
    return {
        "shape": name,
        **result,
        "klaviyo_calls": dict(sorted(calls.items())),
        "klaviyo_calls_total": sum(calls.values()),
        "klaviyo_429s": sum(n for key, n in calls.items() if key.endswith(" 429")),
    }


def print_table(results: list[dict]) -> None:  # type: ignore[type-arg]
    def fmt(r: dict, key: str) -> str:  # type: ignore[type-arg]
        return str(r.get(key, "-"))

    rows: list[tuple[str, list[str]]] = [
        ("signups accepted", [f"{r['accepted']}/{r['signups']}" for r in results]),
        ("load seconds", [fmt(r, "seconds") for r in results]),
        ("accepted signups/s", [fmt(r, "accepted_per_s") for r in results]),
        (
            "POST p50 / p95 / p99 ms",
            [
                f"{r['post_ms']['p50']} / {r['post_ms']['p95']} / {r['post_ms']['p99']}"
                for r in results
            ],
        ),
        ("GET p50 / p99 ms", [f"{r['get_ms']['p50']} / {r['get_ms']['p99']}" for r in results]),
        (
            "responses by status",
            [", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items())) for r in results],
        ),
        (
            "s until all In the list (from start)",
            [fmt(r, "seconds_to_all_in_list_from_start") for r in results],
        ),
        (
            "  after the last signup",
            [fmt(r, "seconds_to_all_in_list_after_last_signup") for r in results],
        ),
        (
            "lost / duplicated",
            [f"{fmt(r, 'lost')} / {fmt(r, 'duplicated')}" for r in results],
        ),
        (
            "Klaviyo calls (429s)",
            [f"{r['klaviyo_calls_total']} ({r['klaviyo_429s']})" for r in results],
        ),
    ]
    keys = sorted({key for r in results for key in r["klaviyo_calls"]})
    rows += [(f"  {key}", [str(r["klaviyo_calls"].get(key, 0)) for r in results]) for key in keys]
    width = max(len(label) for label, _ in rows) + 2
    columns = [
        max(len(r["shape"]), *(len(v[i]) for _, v in rows)) + 2 for i, r in enumerate(results)
    ]
    print()
    print(
        "".ljust(width)
        + "".join(r["shape"].rjust(c) for r, c in zip(results, columns, strict=True))
    )
    for label, values in rows:
        print(
            label.ljust(width) + "".join(v.rjust(c) for v, c in zip(values, columns, strict=True))
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--spread", type=float, default=20.0, help="seconds, the paced shape")
    parser.add_argument("--web-concurrency", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="manage.py db_worker processes")
    parser.add_argument("--klaviyo-latency", type=float, default=0.1, help="seconds per call")
    parser.add_argument("--timeout", type=float, default=300.0, help="per shape, after posting")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument(
        "--scenario",
        choices=["1", "2", "all"],
        default="all",
        help="1: the signup form, rush and paced; 2: bare INSERT and synchronous relay baselines",
    )
    parser.add_argument("--keep-logs", action="store_true", help="print where the logs are")
    args = parser.parse_args()

    sandbox_port, web_port = free_port(), free_port()
    env = {**os.environ, **stack_env(args, sandbox_port)}
    os.environ.update(env)
    logdir = Path(tempfile.mkdtemp(prefix="partyline-bench-"))
    stack = Stack(logdir)
    databases_create(args)
    redis_flush(args)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        from klaviyo_sandbox import testing

        call_command("migrate", verbosity=0)
        call_command("migrate", database="sandbox", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        with open(os.devnull, "w") as quiet:
            call_command("klaviyo_sync", "--schedule", stdout=quiet)
        testing.set_latency(args.klaviyo_latency)

        manage = [PY, "manage.py"]
        stack.start(
            "sandbox", [*manage, "sandbox_server", f"--port={sandbox_port}", "--noreload"], env
        )
        stack.start(
            "gunicorn",
            [GUNICORN, "config.wsgi", f"--bind=127.0.0.1:{web_port}", "--worker-class=sync"],
            # The product's settings plus scenario 2's bench-only URLs (bench/urls.py).
            {**env, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        )
        for n in range(args.workers):
            stack.start(
                f"worker-{n + 1}",
                [
                    *manage,
                    "db_worker",
                    "--no-reload",
                    "--queue-name=*",
                    f"--worker-id=bench-{n + 1}",
                ],
                env,
            )
        base_url = f"http://127.0.0.1:{web_port}"
        wait_http(f"http://127.0.0.1:{sandbox_port}/", stack)
        wait_http(f"{base_url}/healthz", stack)
        from django.db import connection

        print(
            f"stack: {platform.node()} {os.cpu_count()} cores, PostgreSQL "
            f"{connection.cursor().connection.info.server_version}, Redis {args.redis}, gunicorn "
            f"WEB_CONCURRENCY={args.web_concurrency} (sync), {args.workers} db_worker, sandbox "
            f"Klaviyo on :{sandbox_port} (+{args.klaviyo_latency:g} s per call, real rate "
            f"limits); load: {args.signups} signups from {args.clients} clients per shape",
            flush=True,
        )
        results = []
        if args.scenario in ("1", "all"):
            for name, spread in (
                ("as fast as possible", 0.0),
                (f"evenly over {args.spread:g} s", args.spread),
            ):
                results.append(run_shape(name, spread, args, base_url, stack))
                print(f"done: {name}", flush=True)
        if args.scenario in ("2", "all"):
            make_party("relay baseline")  # a fresh connection and list for the relay
            with connection.cursor() as cursor:
                cursor.execute(
                    "CREATE TABLE IF NOT EXISTS bench_signup "
                    "(id bigserial PRIMARY KEY, email varchar(254), created_at timestamptz)"
                )
            for name, path in (
                ("bare INSERT view", "/bench/insert/"),
                ("synchronous relay", "/bench/relay/"),
            ):
                results.append(run_baseline(name, path, args, base_url))
                print(f"done: {name}", flush=True)
        print_table(results)
        print(
            json.dumps(
                {
                    "benchmark": "stack-signup-rush",
                    "machine_cores": os.cpu_count(),
                    "results": results,
                }
            )
        )
    finally:
        stack.stop()
        from django.db import connections

        connections.close_all()
        databases_drop(args)
        redis_flush(args)
        if args.keep_logs:
            print(f"logs: {logdir}")
        else:
            for log in logdir.iterdir():
                log.unlink()
            logdir.rmdir()


if __name__ == "__main__":
    main()
