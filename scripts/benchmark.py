"""Signup rush benchmark: prints figures, asserts nothing.

Posts signups through the real public form (Django's WSGI stack, in-process), from several
threads at once, then lets a worker sync them to the sandbox Klaviyo and counts Klaviyo
write calls from the sandbox's call log. Run with `make bench` (SQLite in a temporary
directory) or point DATABASE_URL / SANDBOX_DATABASE_URL at PostgreSQL.

    make bench BENCH_ARGS="--signups 2000 --threads 8"
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure(workdir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ.setdefault("SANDBOX_DATABASE_URL", f"sqlite:///{workdir / 'bench-sandbox.sqlite3'}")
    # A rush from one machine: lift the per-address limit the public form normally applies.
    os.environ.setdefault("SIGNUP_RATE_PER_IP", "1000000/m")
    os.environ.setdefault("SIGNUP_RATE_PER_PARTY", "1000000/m")
    os.environ.setdefault("PARTY_SYNC_WINDOW_SECONDS", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("migrate", database="sandbox", verbosity=0)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        configure(Path(workdir))
        run(signups=args.signups, threads=args.threads)


def run(*, signups: int, threads: int) -> None:
    from datetime import timedelta

    from django.db import connection, connections
    from django.test import Client
    from django.utils import timezone

    from accounts import services as accounts_services
    from accounts.models import Membership
    from integrations.models import KlaviyoConnection
    from klaviyo_sandbox import testing
    from parties import services
    from parties.models import Attendee, SyncState
    from tests.support.workers import make_worker

    user = accounts_services.user_signup(
        email=f"bench{time.time_ns()}@example.com",
        password="bench-password-not-used-1",
        organization_name="Bench",
    )
    membership = Membership.objects.get(user=user)
    with testing.route_requests_to_sandbox():
        app = testing.install_app(account=testing.ACME)
        klaviyo = KlaviyoConnection.objects.create(
            organization=membership.organization,
            klaviyo_account_id=app.account_id,
            scopes=app.scope.split(),
            access_token=app.access_token,
            refresh_token=app.refresh_token,
            access_token_expires_at=timezone.now() + timedelta(seconds=app.expires_in),
        )
        party, _ = services.party_create(
            membership=membership,
            connection=klaviyo,
            data={
                "name": "Benchmark bash",
                "starts_at": timezone.now() + timedelta(days=1),
                "address": "1 Main St",
                "city": "Boston",
                "state": "MA",
            },
        )
        url = f"/p/{party.slug}/"
        testing.clear_calls()

        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()

        def post(number: int) -> None:
            client = Client()
            client.get(url)  # the page and its CSRF cookie, as a browser would
            started = time.perf_counter()
            response = client.post(
                url,
                {
                    "first_name": "Guest",
                    "last_name": str(number),
                    "email": f"guest{number}@example.com",
                    "pet_name": "Rex",
                    "pet_type": "dog",
                    "consent": "on",
                    "website": "",
                },
            )
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            connections.close_all()

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(post, range(signups)))
        posting = time.perf_counter() - started

        queued = Attendee.objects.filter(party=party, sync_state=SyncState.PENDING).count()
        worker = make_worker("bench")
        started = time.perf_counter()
        worker.run()
        syncing = time.perf_counter() - started
        synced = Attendee.objects.filter(party=party, sync_state=SyncState.SYNCED).count()
        imports = testing.call_count("POST", "/api/profile-bulk-import-jobs")
        subscribes = testing.call_count("POST", "/api/profile-subscription-bulk-create-jobs")

    ms = [value * 1000 for value in latencies]
    print(f"database: {connection.vendor}; {signups} signups from {threads} threads")
    print(f"signup responses: {dict(sorted(statuses.items()))}")
    print(
        f"signup latency ms: p50 {statistics.median(ms):.1f}  p95 {percentile(ms, 0.95):.1f}  "
        f"p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}"
    )
    print(f"signup throughput: {signups / posting:.0f} per second ({posting:.2f} s in all)")
    print(f"attendees pending when the worker started: {queued}")
    print(f"synced: {synced} in {syncing:.2f} s")
    print(
        f"Klaviyo write calls: {imports + subscribes} ({imports} bulk import, {subscribes} "
        f"subscribe); the seed design's 2 per attendee would be {2 * synced}"
    )


if __name__ == "__main__":
    main()
