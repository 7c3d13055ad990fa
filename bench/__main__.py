"""The stack a user runs at scale, benchmarked on this machine: prints figures, asserts nothing.

`python -m bench` (`make bench`) starts, and stops again, everything it measures
(bench/stack.py):

- PostgreSQL databases `partyline_bench` (the product) and `partyline_bench_sandbox` (the
  sandbox Klaviyo; `--database`), on a cluster of its own in a temporary directory (the
  default) or on a running server (`--postgres URL`), dropped at the end;
- Redis db 11 on 127.0.0.1:6379 as CACHE_URL (the rate-limit counters), flushed before and after;
- the sandbox Klaviyo in its own process (`manage.py sandbox_server`), every API call slowed
  by its latency fault (`--klaviyo-latency`, 0.1 s) and held to Klaviyo's rate limits;
- gunicorn (`config.wsgi`, WEB_CONCURRENCY=3 sync workers) and two `manage.py db_worker`.

Then the scenarios (`--scenario`, all seven by default): 1 and 2, the signup rush (its
events' write calls per 1,000 signups among its figures, the form without the events
outbox and a party capped at 10% of the signups, its waitlist on, beside it) and its
baselines (bench/rush.py); 3, the refresh storm (bench/storm.py);
4, the organizer pages at 10,000 attendees (bench/pages.py); 5, the peak memory during 1 and
4; 7, the reminder minute, 10,000 reminders of one account due at one time
(bench/reminders.py); 6, a 30 s Klaviyo outage in the middle of a burst, with the sandbox
served by gunicorn from then on, so it runs last (bench/outage.py). A table per scenario,
every target met or not, then one JSON line.

    make bench BENCH_ARGS="--signups 2000 --clients 32 --spread 20"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import rush
from bench.stack import (
    GUNICORN,
    Context,
    Stack,
    TemporaryPostgres,
    databases_create,
    databases_drop,
    free_port,
    redis_flush,
    stack_env,
    target,
    wait_http,
)

PY = sys.executable


def memory_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Scenario 5: peak resident memory during the rush and during the exports."""
    rush = report.get("memory_during_rush_mb") or {}
    pages = report.get("organizer_pages") or {}
    export = pages.get("memory_mb", {})
    web = max(rush.get("web_worker", 0), export.get("web_worker", 0))
    task = max(rush.get("task_worker", 0), export.get("task_worker", 0))
    print()
    print("peak resident memory (MB)      rush   export")
    for label, key in (("web worker (gunicorn)", "web_worker"), ("task worker", "task_worker")):
        print(f"{label:<28}{rush.get(key, '-'):>7}{export.get(key, '-'):>9}")
    return [
        target("web worker under 150 MB RSS", 0 < web < 150, f"{web} MB"),
        target("task worker under 200 MB RSS", 0 < task < 200, f"{task} MB"),
    ]


def print_targets(targets: list[dict[str, Any]]) -> None:
    print()
    print("targets")
    for t in targets:
        print(f"  {'met    ' if t['met'] else 'NOT MET'}  {t['target']}: {t['figure']}")
    print(f"{sum(1 for t in targets if t['met'])} of {len(targets)} targets met", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--spread", type=float, default=20.0, help="seconds, the paced shape")
    parser.add_argument(
        "--shapes",
        default="fast,fast-no-events,capped,spread,queued",
        help=(
            "scenario 1's shapes, of fast, fast-no-events (the form without the events "
            "outbox), capped (as fast as possible on a party with places for 10%% of the "
            "signups, the rest waitlisted), spread and queued (workers stopped while posting)"
        ),
    )
    parser.add_argument("--web-concurrency", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="manage.py db_worker processes")
    parser.add_argument("--klaviyo-latency", type=float, default=0.1, help="seconds per call")
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="per shape, after posting (scenario 6: after the outage or the posting, the later)",
    )
    parser.add_argument(
        "--outage-seconds",
        type=float,
        default=30.0,
        help="scenario 6's Klaviyo outage, over the middle half of a burst twice as long",
    )
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
        choices=["1", "2", "3", "4", "5", "6", "7", "all"],
        default="all",
        help=(
            "1: the signup form, rush and paced; 2: bare INSERT and synchronous relay baselines; "
            "3: refresh storm; 4: organizer pages at 10,000 attendees; 5: memory (1 and 4); "
            "6: outage recovery (the sandbox served by gunicorn); 7: the reminder minute "
            "(10,000 reminders due at one time)"
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
        chosen = {"1", "2", "3", "4", "5", "6", "7"} if args.scenario == "all" else {args.scenario}
        report: dict[str, Any] = {}
        targets: list[dict[str, Any]] = []
        if chosen & {"1", "2", "5"}:
            rush_report = rush.run(context, chosen)
            report["signup_rush"] = rush_report["results"]
            targets += rush_report["targets"]
            report["memory_during_rush_mb"] = rush_report["memory_mb"]
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
        if "7" in chosen:
            from bench import reminders

            reminder_report = reminders.run(context)
            report["reminder_minute"] = reminder_report["results"]
            targets += reminder_report["targets"]
        if "6" in chosen:  # last: it leaves the sandbox served by gunicorn
            from bench import outage

            outage_report = outage.run(context)
            report["outage_recovery"] = outage_report["results"]
            targets += outage_report["targets"]
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
