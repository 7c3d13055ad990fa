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
import resource
import subprocess  # starts the stack it benchmarks  # nosec B404
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
GUNICORN = str(Path(PY).with_name("gunicorn"))


from bench.stack import (  # noqa: E402 (after the sys.path line)
    Context,
    Stack,
    TemporaryPostgres,
    cpu_spent,
    databases_create,
    databases_drop,
    free_port,
    klaviyo_calls,
    redis_flush,
    stack_env,
    target,
    wait_http,
)


def make_party(name: str):  # type: ignore[no-untyped-def]
    """The benchmark's party, made as the in-process benchmark makes it."""
    from benchmark import make_party as make_benchmark_party  # scripts/ is on sys.path

    party = make_benchmark_party(name)
    party.refresh_from_db()
    return party


def run_load(
    url: str, args: argparse.Namespace, stack: Stack, *, spread: float, tag: str
) -> dict[str, object]:
    """bench/load.py's signups to `url`, and the CPU seconds each kind of process spent
    meanwhile (the load generator's own included): what the two cores went to."""
    before, load_before = stack.cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
    load = subprocess.run(  # noqa: S603 (bench/load.py)  # nosec B603
        [
            PY,
            str(ROOT / "bench" / "load.py"),
            f"--url={url}",
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
    after, load_after = stack.cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(load.stdout)
    result["cpu_seconds"] = {
        **cpu_spent(before, after),
        "load generator": round(
            load_after.ru_utime + load_after.ru_stime - load_before.ru_utime - load_before.ru_stime,
            1,
        ),
    }
    return result


def run_shape(
    name: str,
    spread: float,
    args: argparse.Namespace,
    base_url: str,
    stack: Stack,
    *,
    queued: bool = False,
) -> dict[str, object]:
    """One shape of scenario 1 on a fresh party. `queued`: the task workers are stopped
    (SIGSTOP) while the signups arrive and continued after, so they find a full queue."""

    from klaviyo_sandbox import testing
    from parties.models import Attendee, SyncState

    party = make_party(name)
    testing.clear_calls()
    tag = f"s{int(spread)}-{time.time_ns()}"
    if queued:
        stack.pause("worker-")
    result = run_load(f"{base_url}/p/{party.slug}/", args, stack, spread=spread, tag=tag)
    if queued:
        stack.resume("worker-")
        result["ended_at"] = time.time()  # "after the last signup" counts from here
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
    calls = klaviyo_calls()
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
    name: str, path: str, args: argparse.Namespace, base_url: str, stack: Stack
) -> dict[str, object]:
    """Scenario 2: a bench-only view (bench/views.py) under the same load, as fast as possible."""

    from klaviyo_sandbox import testing

    testing.clear_calls()
    tag = f"{name.split()[0]}-{time.time_ns()}"
    result = run_load(f"{base_url}{path}", args, stack, spread=0.0, tag=tag)
    result.pop("accepted_emails")
    calls = klaviyo_calls()
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
    rows.append(("CPU s during the load (2 cores)", [""] * len(results)))
    kinds = list(results[0]["cpu_seconds"]) if results else []
    rows += [(f"  {kind}", [str(r["cpu_seconds"][kind]) for r in results]) for kind in kinds]
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


def klaviyo_writes(result: dict) -> int:  # type: ignore[type-arg]
    """Bulk imports and bulk subscribes the shape cost, whatever Klaviyo answered."""
    return sum(
        n
        for key, n in result["klaviyo_calls"].items()
        if key.startswith(("bulk_import_profiles ", "bulk_subscribe_profiles "))
    )


def run_rush_scenarios(context: Context, chosen: set[str]) -> dict[str, object]:
    """Scenarios 1 and 2 side by side (one table), and the memory the rush cost (scenario 5)."""
    from django.db import connection

    from parties.sync import window

    args, stack, base_url = context.args, context.stack, context.base_url
    results: list[dict[str, object]] = []
    stack.reset_peak_memory()
    shapes = {
        "fast": ("as fast as possible", 0.0, False),
        "spread": (f"evenly over {args.spread:g} s", args.spread, False),
        "queued": ("queued, workers stopped", 0.0, True),
    }
    chosen_shapes = [shapes[key] for key in args.shapes.split(",")]
    for name, spread, queued in chosen_shapes if chosen & {"1", "5"} else []:
        results.append(run_shape(name, spread, args, base_url, stack, queued=queued))
        print(f"done: {name}", flush=True)
    memory = {
        "web_worker": stack.peak_memory_mb("gunicorn"),
        "task_worker": stack.peak_memory_mb("worker-"),
    }
    if "2" in chosen:
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
            results.append(run_baseline(name, path, args, base_url, stack))
            print(f"done: {name}", flush=True)
    print_table(results)

    by_shape = {r["shape"]: r for r in results}
    product = [r for r in results if "lost" in r]
    targets = []
    for r in product:
        fives = sum(n for status, n in r["statuses"].items() if status.startswith("5"))
        targets.append(
            target(
                f"{r['shape']}: 0 lost, 0 duplicated, 0 5xx",
                r["lost"] == r["duplicated"] == fives == 0,
                f"{r['lost']} lost, {r['duplicated']} duplicated, {fives} 5xx",
            )
        )
        after = r["seconds_to_all_in_list_after_last_signup"]
        if r["shape"].startswith("queued"):
            # A full queue's target is its writes (below); its time to "In the list" is
            # printed, and is how long the sandbox takes to apply 2,000 profiles here.
            allowed = 2 * -(-int(r["accepted"]) // 1000)
            targets.append(
                target(
                    f"{r['shape']}: at most 2 Klaviyo writes per 1,000 from a full queue",
                    klaviyo_writes(r) <= allowed,
                    f"{klaviyo_writes(r)} writes for {r['accepted']} (at most {allowed})",
                )
            )
            continue
        targets.append(
            target(
                f"{r['shape']}: every attendee In the list within 30 s of the rush's end",
                after is not None and after <= 30,
                f"{after} s" if after is not None else "not all within the timeout",
            )
        )
        writes = klaviyo_writes(r)
        seconds = max(float(r["seconds"]), 0.001)
        windows = -(-seconds // window().total_seconds())
        allowed = int(2 * (windows + 1))
        targets.append(
            target(
                f"{r['shape']}: at most 2 Klaviyo writes per coalescing window",
                writes <= allowed,
                f"{writes} writes over {seconds:g} s "
                f"({window().total_seconds():g} s window: at most {allowed})",
            )
        )
    fast = by_shape.get("as fast as possible")
    bare, relay = by_shape.get("bare INSERT view"), by_shape.get("synchronous relay")
    if fast and relay:
        ratio = fast["accepted_per_s"] / max(relay["accepted_per_s"], 0.001)
        targets.append(
            target(
                "accepted signups/s at least 20x the relay's",
                ratio >= 20,
                f"{fast['accepted_per_s']} vs {relay['accepted_per_s']}/s ({ratio:.1f}x)",
            )
        )
        targets.append(
            target(
                "signup p99 at most a third of the relay's",
                fast["post_ms"]["p99"] * 3 <= relay["post_ms"]["p99"],
                f"{fast['post_ms']['p99']} vs {relay['post_ms']['p99']} ms",
            )
        )
    if fast and bare:
        ratio = fast["accepted_per_s"] / max(bare["accepted_per_s"], 0.001)
        figure = f"{fast['accepted_per_s']} vs {bare['accepted_per_s']}/s ({ratio:.2f}x)"
        if queued := by_shape.get("queued, workers stopped"):
            # The same form with the task workers (and so the sandbox) idle: the web tier's
            # own cost, apart from the pipeline sharing the two cores.
            alone = queued["accepted_per_s"] / max(bare["accepted_per_s"], 0.001)
            figure += f"; with the task workers stopped {queued['accepted_per_s']}/s ({alone:.2f}x)"
        targets.append(
            target("signup throughput at least 70% of the bare INSERT view's", ratio >= 0.7, figure)
        )
    return {"results": results, "targets": targets, "memory_mb": memory}


def memory_targets(report: dict[str, object]) -> list[dict[str, object]]:
    """Scenario 5: peak resident memory during the rush and during the exports."""
    rush = report.get("memory_during_rush_mb") or {}
    pages = report.get("organizer_pages") or {}
    export = pages.get("memory_mb", {})  # type: ignore[union-attr]
    web = max(rush.get("web_worker", 0), export.get("web_worker", 0))  # type: ignore[union-attr]
    task = max(rush.get("task_worker", 0), export.get("task_worker", 0))  # type: ignore[union-attr]
    print()
    print("peak resident memory (MB)      rush   export")
    for label, key in (("web worker (gunicorn)", "web_worker"), ("task worker", "task_worker")):
        print(
            f"{label:<28}{rush.get(key, '-'):>7}{export.get(key, '-'):>9}"  # type: ignore[union-attr]
        )
    return [
        target("web worker under 150 MB RSS", 0 < web < 150, f"{web} MB"),
        target("task worker under 200 MB RSS", 0 < task < 200, f"{task} MB"),
    ]


def print_targets(targets: list[dict[str, object]]) -> None:
    print()
    print("targets")
    for t in targets:
        print(f"  {'met    ' if t['met'] else 'NOT MET'}  {t['target']}: {t['figure']}")
    print(f"{sum(1 for t in targets if t['met'])} of {len(targets)} targets met", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--spread", type=float, default=20.0, help="seconds, the paced shape")
    parser.add_argument(
        "--shapes",
        default="fast,spread,queued",
        help="scenario 1's shapes, of fast, spread and queued (workers stopped while posting)",
    )
    parser.add_argument("--web-concurrency", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="manage.py db_worker processes")
    parser.add_argument("--klaviyo-latency", type=float, default=0.1, help="seconds per call")
    parser.add_argument("--timeout", type=float, default=300.0, help="per shape, after posting")
    parser.add_argument(
        "--postgres",
        default="temporary",
        help=(
            "a server URL such as postgres://postgres@127.0.0.1:5432 (the storm then fits its "
            "max_connections), or 'temporary': a cluster of the bench's own (initdb)"
        ),
    )
    parser.add_argument(
        "--database",
        default="partyline_bench",
        help="name of the throwaway product database (the sandbox's gets _sandbox); dropped",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11", help="flushed")
    parser.add_argument(
        "--scenario",
        choices=["1", "2", "3", "4", "5", "all"],
        default="all",
        help=(
            "1: the signup form, rush and paced; 2: bare INSERT and synchronous relay baselines; "
            "3: refresh storm; 4: organizer pages at 10,000 attendees; 5: memory (1 and 4)"
        ),
    )
    parser.add_argument("--log-level", default="WARNING", help="of the stack's processes")
    parser.add_argument("--keep-logs", action="store_true", help="print where the logs are")
    args = parser.parse_args()

    own_postgres = TemporaryPostgres() if args.postgres == "temporary" else None
    if own_postgres:
        args.postgres = own_postgres.start()
    sandbox_port, web_port = free_port(), free_port()
    env = {**os.environ, **stack_env(args, sandbox_port)}
    os.environ.update(env)
    logdir = Path(tempfile.mkdtemp(prefix="partyline-bench-"))
    stack = Stack(logdir)
    try:
        databases_create(args)
        redis_flush(args)
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
            f"{connection.cursor().connection.info.server_version} at {args.postgres}"
            f"{' (its own cluster)' if own_postgres else ''}, Redis {args.redis}, gunicorn "
            f"WEB_CONCURRENCY={args.web_concurrency} (sync), {args.workers} db_worker, sandbox "
            f"Klaviyo on :{sandbox_port} (+{args.klaviyo_latency:g} s per call, real rate "
            f"limits); load: {args.signups} signups from {args.clients} clients per shape",
            flush=True,
        )
        context = Context(
            args=args,
            stack=stack,
            env=env,
            base_url=base_url,
            sandbox_url=f"http://127.0.0.1:{sandbox_port}",
        )
        chosen = {"1", "2", "3", "4", "5"} if args.scenario == "all" else {args.scenario}
        report: dict[str, object] = {}
        targets: list[dict[str, object]] = []
        if chosen & {"1", "2", "5"}:
            rush = run_rush_scenarios(context, chosen)
            report["signup_rush"] = rush["results"]
            targets += rush["targets"]
            report["memory_during_rush_mb"] = rush["memory_mb"]
        if "3" in chosen:
            from bench import storm

            report["refresh_storm"] = storm.run(context)
            targets += report["refresh_storm"]["targets"]
        if chosen & {"4", "5"}:
            from bench import pages

            report["organizer_pages"] = pages.run(context)
            targets += report["organizer_pages"]["targets"]
        if "5" in chosen:
            targets += memory_targets(report)
        print_targets(targets)
        print(
            json.dumps(
                {
                    "benchmark": "partyline-stack",
                    "machine": f"{platform.node()}, {os.cpu_count()} cores",
                    **report,
                    "targets": targets,
                }
            )
        )
    finally:
        stack.stop()
        from django.db import connections

        connections.close_all()
        databases_drop(args)
        redis_flush(args)
        if own_postgres:
            own_postgres.stop()
        if args.keep_logs:
            print(f"logs: {logdir}")
        else:
            for log in logdir.iterdir():
                log.unlink()
            logdir.rmdir()


if __name__ == "__main__":
    main()
