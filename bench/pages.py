"""Scenario 4, organizer pages at scale, and the export half of scenario 5 (memory).

One organizer (made as every scenario makes one, bench/fixtures.py: a real signup, a
connection installed in the sandbox Klaviyo) with three parties of 100, 1,000 and 10,000
attendees, bulk-inserted in the mix a party of that size has: mostly "In the list", some
awaiting confirmation, some rejected or suppressed with Klaviyo's reason, a few not
confirmed, sent or waiting. Each party's sync is held off (a run planned a day ahead,
`Party.next_sync_at`, which keeps the sweep from enqueueing one) once the run that created
its list has ended, so no worker touches the attendees while they are measured and the live
endpoint's ETag stays valid.

For each party, over real HTTP through the stack's gunicorn, as the organizer (logged in
through the login form, from an address of its own so no other scenario's limits count),
sequentially after a few unmeasured warm-up requests:

- the party page (`parties:party_detail`, first page of attendees);
- its live endpoint (`parties:party_live`) answering in full, and answering a poll whose
  If-None-Match holds the current ETag (304);
- the CSV export (`parties:attendees_csv`), read to the end: time to the first byte and in
  all, its size, and whether it arrived chunked with no Content-Length (streamed).

The SQL queries per request are counted in this process (Django's test client against the
same databases, `CaptureQueriesContext`, the CSV read to its end inside the count). Around
each party's exports the peak resident memory of the gunicorn workers and the db_workers is
started over and read back (`Stack.reset_peak_memory`): the export streams if the 10,000
party's peak stays within `FLAT_MB` of the 1,000 party's.

Then the same organizer's door at 10,000 guests: its search and its guest list (bench/door.py).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import requests

from bench import door
from bench.fixtures import PASSWORD, make_party, party_with_list
from bench.load import percentile
from bench.stack import Context, target

SIZES = (100, 1_000, 10_000)
# Timed requests per page and party, one after another (the figures are per request, not
# under concurrent load).
REQUESTS = 50
WARM_UP = 10
TIMEOUT = 60.0
P95_TARGET_MS = 150.0
# How much more the 10,000 export may cost than the 1,000 one and still count as flat: a
# fully buffered 10,000-row export (2 MB of CSV, 10,000 model instances) costs far more.
FLAT_MB = 10.0
# The organizer's address as the product sees it (the bench trusts 127.0.0.1 as a proxy):
# its login counts against no other scenario's per-address limits.
ADDRESS = "192.0.2.44"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

# (share of the attendees, state, reason): the mix of a party after its rush.
MIX = (
    (0.88, "synced", ""),
    (0.04, "awaiting_confirmation", ""),
    (0.02, "failed", "Invalid email address: the domain does not accept mail."),
    (0.01, "suppressed", "Suppressed by Klaviyo: email to this address bounced"),
    (0.01, "not_confirmed", "Klaviyo emailed a confirmation link, but it was not used."),
    (0.02, "sent", ""),
    (0.02, "pending", ""),
)
PAGES = ("party page", "live, full", "live, 304", "CSV export")


def run(context: Context) -> dict[str, Any]:
    from accounts.models import Membership

    parties, email, password = organizer_with_parties(context)
    session = logged_in(context.base_url, email, password)
    results: dict[str, Any] = {"requests_per_figure": REQUESTS, "sizes": {}}
    for size, party in parties.items():
        urls = {
            "party page": f"/parties/{party.pk}/",
            "live": f"/parties/{party.pk}/live/",
            "CSV export": f"/parties/{party.pk}/attendees.csv",
        }
        figures: dict[str, Any] = {"queries": count_queries(urls, party.created_by)}
        figures["party page"] = timed(session, context.base_url + urls["party page"])
        figures["live, full"] = timed(session, context.base_url + urls["live"])
        etag = session.get(context.base_url + urls["live"], timeout=TIMEOUT).headers["ETag"]
        figures["live, 304"] = timed(
            session, context.base_url + urls["live"], {"If-None-Match": etag}, expect=304
        )
        export_url = context.base_url + urls["CSV export"]
        for _ in range(WARM_UP):
            exported(session, export_url)
        context.stack.reset_peak_memory()
        figures["CSV export"] = timed_exports(session, export_url)
        figures["memory_mb"] = {
            "web_worker": context.stack.peak_memory_mb("gunicorn"),
            "task_worker": context.stack.peak_memory_mb("worker-"),
        }
        results["sizes"][size] = figures
        print(f"done: organizer pages at {size:,} attendees", flush=True)
    print_table(results["sizes"])
    largest = parties[SIZES[-1]]
    results["door"] = door.run(
        context,
        session,
        membership=Membership.objects.get(
            user=largest.created_by, organization=largest.organization
        ),
        connection=largest.connection,
    )
    return {
        "results": results,
        "targets": targets(results["sizes"]) + door.targets(results["door"]),
        "memory_mb": {
            kind: max(figures["memory_mb"][kind] for figures in results["sizes"].values())
            for kind in ("web_worker", "task_worker")
        },
    }


def organizer_with_parties(context: Context) -> tuple[dict[int, Any], str, str]:
    """The parties by size, each filled once no sync run is left to touch it; the
    organizer's email and password."""
    from django.utils import timezone
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from accounts.models import Membership
    from parties.models import Party

    first = make_party(f"{SIZES[0]:,} attendees")
    membership = Membership.objects.get(user=first.created_by)
    parties = {SIZES[0]: first}
    for size in SIZES[1:]:
        party = party_with_list(
            membership=membership, connection=first.connection, name=f"{size:,} attendees"
        )
        parties[size] = party
    ids = [party.pk for party in parties.values()]
    # The runs party_create queued (and any follow-up they planned) end first: a run after
    # the fill would send the waiting attendees to Klaviyo while they are measured.
    runs = DBTaskResult.objects.filter(
        task_path__endswith=".sync_party",
        args_kwargs__kwargs__party_id__in=ids,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    )
    deadline = time.monotonic() + 120
    while runs.exists():
        context.stack.check()
        if time.monotonic() > deadline:
            raise RuntimeError("the parties' sync runs did not end within 120 s")
        time.sleep(0.2)
    Party.objects.filter(pk__in=ids).update(next_sync_at=timezone.now() + timedelta(days=1))
    for size, party in parties.items():
        fill(party, size)
        party.refresh_from_db()
    return parties, membership.user.email, PASSWORD


def fill(party: Any, size: int) -> None:
    from django.utils import timezone

    from parties.models import Attendee

    now = timezone.now()
    states = [(state, reason) for share, state, reason in MIX for _ in range(round(share * size))]
    attendees = []
    for number, (state, reason) in enumerate(states):
        sent = state != "pending"
        attendees.append(
            Attendee(
                party=party,
                email=f"guest{number}@example.com",
                first_name="Guest",
                last_name=f"Number {number}",
                answers={"pet_name": "Rex", "pet_type": "dog"} if number % 3 else {},
                consented_at=now - timedelta(minutes=number % 600),
                marketing_consent=True,
                sync_state=state,
                state_reason=reason,
                attempts=1 if sent else 0,
                sent_at=now - timedelta(minutes=5) if sent else None,
                checked_at=now if state not in ("pending", "sent") else None,
                synced_at=now if state == "synced" else None,
                klaviyo_profile_id=f"01BENCH{number:019d}" if sent else "",
                import_job_id="bench-import-job" if state == "sent" else "",
            )
        )
    Attendee.objects.bulk_create(attendees, batch_size=2000)


def logged_in(base_url: str, email: str, password: str) -> requests.Session:
    session = requests.Session()
    session.headers["X-Forwarded-For"] = ADDRESS
    form = session.get(f"{base_url}/accounts/login/", timeout=TIMEOUT)
    token = CSRF.search(form.text)
    if token is None:
        raise RuntimeError(f"no CSRF token on the login page ({form.status_code})")
    response = session.post(
        f"{base_url}/accounts/login/",
        data={"username": email, "password": password, "csrfmiddlewaretoken": token.group(1)},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    if response.status_code != 302:
        raise RuntimeError(f"the organizer's login answered {response.status_code}")
    return session


def count_queries(urls: dict[str, str], user: Any) -> dict[str, int]:
    """SQL queries per request, each page requested once beforehand (the session settles
    its organization on the first)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(user)

    def queries(url: str, expect: int = 200, **headers: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, headers=headers)
            response.getvalue()  # a streamed body runs its queries as it is read
        if response.status_code != expect:
            raise RuntimeError(f"{url} answered {response.status_code} in process")
        return len(captured)

    for url in urls.values():
        queries(url)
    etag = client.get(urls["live"])["ETag"]
    return {
        "party page": queries(urls["party page"]),
        "live, full": queries(urls["live"]),
        "live, 304": queries(urls["live"], expect=304, if_none_match=etag),
        "CSV export": queries(urls["CSV export"]),
    }


def summary(milliseconds: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(milliseconds, 0.50), 1),
        "p95": round(percentile(milliseconds, 0.95), 1),
    }


def timed(
    session: requests.Session, url: str, headers: dict[str, str] | None = None, expect: int = 200
) -> dict[str, float]:
    milliseconds = []
    for number in range(WARM_UP + REQUESTS):
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=TIMEOUT)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != expect:
            raise RuntimeError(f"{url} answered {response.status_code}, not {expect}")
        if number >= WARM_UP:
            milliseconds.append(elapsed)
    return summary(milliseconds)


def exported(session: requests.Session, url: str) -> tuple[float, float, int, bool]:
    """One export read to its end: ms to the first byte and in all, bytes, and whether it
    came chunked without a Content-Length (streamed, not built whole first)."""
    started = time.perf_counter()
    with session.get(url, stream=True, timeout=TIMEOUT) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        chunks = response.iter_content(chunk_size=None)
        size = len(next(chunks, b""))
        first_byte = (time.perf_counter() - started) * 1000
        size += sum(len(chunk) for chunk in chunks)
        streamed = (
            response.headers.get("Transfer-Encoding") == "chunked"
            and "Content-Length" not in response.headers
        )
    return first_byte, (time.perf_counter() - started) * 1000, size, streamed


def timed_exports(session: requests.Session, url: str) -> dict[str, Any]:
    runs = [exported(session, url) for _ in range(REQUESTS)]
    return {
        **summary([total for _, total, _, _ in runs]),
        "first_byte_p50": round(percentile([first for first, _, _, _ in runs], 0.50), 1),
        "kb": round(runs[0][2] / 1024),
        "streamed": all(streamed for _, _, _, streamed in runs),
    }


def print_table(sizes: dict[int, dict[str, Any]]) -> None:
    rows: list[tuple[str, list[str]]] = []
    for page in PAGES:
        rows.append(
            (
                f"{page} p50 / p95 ms",
                [f"{figures[page]['p50']} / {figures[page]['p95']}" for figures in sizes.values()],
            )
        )
        rows.append(
            ("  SQL queries", [str(figures["queries"][page]) for figures in sizes.values()])
        )
    export = [figures["CSV export"] for figures in sizes.values()]
    rows += [
        ("  first byte p50 ms", [str(e["first_byte_p50"]) for e in export]),
        ("  size KB, streamed", [f"{e['kb']}, {'yes' if e['streamed'] else 'no'}" for e in export]),
        (
            "peak RSS MB in exports: web",
            [str(figures["memory_mb"]["web_worker"]) for figures in sizes.values()],
        ),
        (
            "  task worker",
            [str(figures["memory_mb"]["task_worker"]) for figures in sizes.values()],
        ),
    ]
    headings = [f"{size:,} attendees" for size in sizes]
    width = max(len(label) for label, _ in rows) + 2
    columns = [
        max(len(heading), *(len(values[i]) for _, values in rows)) + 2
        for i, heading in enumerate(headings)
    ]
    print()
    print(
        f"organizer pages ({REQUESTS} sequential requests per figure, after {WARM_UP} unmeasured)"
    )
    print("".ljust(width) + "".join(h.rjust(c) for h, c in zip(headings, columns, strict=True)))
    for label, values in rows:
        print(
            label.ljust(width) + "".join(v.rjust(c) for v, c in zip(values, columns, strict=True))
        )


def targets(sizes: dict[int, dict[str, Any]]) -> list[dict[str, object]]:
    small, large = sizes[SIZES[0]], sizes[SIZES[-1]]
    found = []
    for page in ("party page", "live, full", "live, 304"):
        found.append(
            target(
                f"{page}: p95 under {P95_TARGET_MS:g} ms at {SIZES[-1]:,} attendees",
                large[page]["p95"] < P95_TARGET_MS,
                f"p95 {large[page]['p95']} ms (p50 {large[page]['p50']})",
            )
        )
    for page in PAGES:
        found.append(
            target(
                f"{page}: the same SQL queries at {SIZES[0]:,} and at {SIZES[-1]:,} attendees",
                small["queries"][page] == large["queries"][page],
                f"{small['queries'][page]} and {large['queries'][page]}",
            )
        )
    before, after = sizes[SIZES[1]], large
    grew = round(after["memory_mb"]["web_worker"] - before["memory_mb"]["web_worker"], 1)
    found.append(
        target(
            f"CSV export streams: chunked, web worker peak within +{FLAT_MB:g} MB from "
            f"{SIZES[1]:,} to {SIZES[-1]:,} attendees",
            after["CSV export"]["streamed"]
            and before["CSV export"]["streamed"]
            and grew <= FLAT_MB,
            f"{before['memory_mb']['web_worker']} -> {after['memory_mb']['web_worker']} MB "
            f"({grew:+g}), {'chunked' if after['CSV export']['streamed'] else 'not chunked'}",
        )
    )
    return found
