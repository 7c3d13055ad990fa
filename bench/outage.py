"""Scenario 6, outage recovery: a Klaviyo outage in the middle of a signup burst of long
addresses, and how soon after Klaviyo is back every attendee is in the list.

Measured from outside, as the architecture issue measured its stalled parties: the sandbox
Klaviyo is served by gunicorn (`klaviyo_sandbox.wsgi`, `SANDBOX_WORKERS` sync workers,
gunicorn's default `limit_request_line` of 4,094 bytes, which answers a longer request line
414 before Django sees it) in place of `sandbox_server`, on the same port and database, so
this scenario runs after the others. Under gunicorn the sandbox applies its bulk jobs when a
call looks at them (`jobs_catch_up`), not in `sandbox_server`'s background thread.

The load (`bench.load`) posts 2,000 signups with 60-character addresses evenly over twice
the outage's length; the outage (30 s, `--outage-seconds`) is the sandbox's own fault, a row
in its database that every sandbox process consults on every call (`klaviyo_sandbox.faults`),
started from this process a quarter into the burst, so it covers the burst's middle half:
every token and API call answers 503 with Retry-After until it ends by itself.

Then, on a fresh party: accepted signups and responses by status, the attendees' states at
the outage's end, seconds from the outage's end until every accepted attendee is "In the
list" (polled in the product database), lost and duplicated attendees (as in scenario 1),
Klaviyo calls by endpoint and status (the sandbox's call log), the 414s gunicorn answered
(its log: a refused request line never reaches Django or the call log) and the read-back
problem the party page shows at the end, if any.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from bench.fixtures import make_party
from bench.rush import run_load, wait_until_in_klaviyo_as_placed
from bench.stack import GUNICORN, Context, klaviyo_calls, target, wait_http

if TYPE_CHECKING:
    from parties.models import Party

# The read-backs' request lines grow with the addresses (issue 19's 60 characters).
EMAIL_LENGTH = 60
# Sync workers answer one call each at a time: room for both task workers' calls (each held
# by the latency fault) and a third, as many as the web tier has.
SANDBOX_WORKERS = 3
SANDBOX = "sandbox-gunicorn"
# What gunicorn logs for each request line over its limit, answered 414.
REFUSED_LINE = "Request Line is too large"
# The target: every attendee in the list this soon after Klaviyo is back.
RECOVERY_SECONDS = 120


def serve_sandbox_with_gunicorn(context: Context) -> None:
    """The stack's sandbox process replaced by gunicorn on the same port (same settings and
    database: what it holds stays)."""
    port = context.sandbox_url.rsplit(":", 1)[1]
    context.stack.stop("sandbox")
    context.stack.start(
        SANDBOX,
        [
            GUNICORN,
            "klaviyo_sandbox.wsgi",
            f"--bind=127.0.0.1:{port}",
            "--worker-class=sync",
            f"--workers={SANDBOX_WORKERS}",
            # The web's gunicorn has the default control socket; this one would replace it.
            "--no-control-socket",
        ],
        context.env,
    )
    wait_http(f"{context.sandbox_url}/", context.stack)


def outage(party: Party, *, after: float, seconds: float) -> dict[str, Any]:
    """In a thread of its own: wait `after` seconds, start the sandbox's outage, and at its
    end count the party's attendees by state."""
    from django.db import connections

    from klaviyo_sandbox import faults
    from klaviyo_sandbox.models import FaultKind
    from parties.models import Attendee

    time.sleep(after)
    try:
        started_at = time.time()
        fault = faults.fault_start(kind=FaultKind.OUTAGE, seconds=seconds)
        ended_at = fault.until.timestamp()
        time.sleep(max(0.0, ended_at - time.time()))
        states = Counter(Attendee.objects.filter(party=party).values_list("sync_state", flat=True))
    finally:
        connections.close_all()  # this thread's own
    return {"started_at": started_at, "ended_at": ended_at, "states_at_end": dict(states)}


def run(context: Context) -> dict[str, Any]:
    from klaviyo_sandbox import testing
    from parties.models import Attendee, Party

    args, stack = context.args, context.stack
    serve_sandbox_with_gunicorn(context)
    party = make_party("outage recovery")
    testing.clear_calls()
    spread = 2 * args.outage_seconds
    with ThreadPoolExecutor(max_workers=1) as pool:
        injected = pool.submit(outage, party, after=spread / 4, seconds=args.outage_seconds)
        result = run_load(
            f"{context.base_url}/p/{party.slug}/",
            args,
            stack,
            spread=spread,
            tag=f"outage-{time.time_ns()}",
            email_length=EMAIL_LENGTH,
        )
        down = injected.result()
    accepted = set(result.pop("accepted_emails"))
    attendees = Attendee.objects.filter(party=party)
    settled_at = wait_until_in_klaviyo_as_placed(
        attendees,
        len(accepted),
        deadline=max(time.time(), down["ended_at"]) + args.timeout,
        stack=stack,
    )
    emails = set(attendees.values_list("email", flat=True))
    members = [m["email"] for m in testing.list_members(party.klaviyo_list_id)]
    calls = klaviyo_calls()
    report = {
        **result,
        "email_length": EMAIL_LENGTH,
        "outage_seconds": args.outage_seconds,
        "outage_from_s": round(down["started_at"] - result["started_at"], 1),
        "outage_to_s": round(down["ended_at"] - result["started_at"], 1),
        "attendee_states_at_outage_end": down["states_at_end"],
        "seconds_to_all_in_list_after_outage": (
            round(settled_at - down["ended_at"], 1) if settled_at else None
        ),
        "attendee_states": dict(Counter(attendees.values_list("sync_state", flat=True))),
        "lost": len(accepted - emails) + len(accepted - set(members)),
        "duplicated": (attendees.count() - len(emails)) + (len(members) - len(set(members))),
        "klaviyo_calls": dict(sorted(calls.items())),
        "klaviyo_calls_total": sum(calls.values()),
        "answered_414": stack.log(SANDBOX).count(REFUSED_LINE),
        "read_back_error": Party.objects.get(pk=party.pk).read_back_error,
    }
    print("done: outage recovery", flush=True)
    print_table(report)
    return {"results": report, "targets": targets(report)}


def print_table(r: dict[str, Any]) -> None:
    after = r["seconds_to_all_in_list_after_outage"]
    rows = [
        (
            "signups accepted",
            f"{r['accepted']}/{r['signups']} ({r['email_length']}-char addresses)",
        ),
        ("load seconds", f"{r['seconds']} (paced over {2 * r['outage_seconds']:g} s)"),
        (
            "Klaviyo down (503)",
            f"from {r['outage_from_s']} to {r['outage_to_s']} s into the burst",
        ),
        ("responses by status", ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))),
        ("POST p50 / p99 ms", f"{r['post_ms']['p50']} / {r['post_ms']['p99']}"),
        ("states when Klaviyo came back", states(r["attendee_states_at_outage_end"])),
        ("s until all In the list after it", str(after) if after is not None else "timed out"),
        ("states at the end", states(r["attendee_states"])),
        ("lost / duplicated", f"{r['lost']} / {r['duplicated']}"),
        ("answered 414 (gunicorn's log)", str(r["answered_414"])),
        ("read-back problem shown", r["read_back_error"] or "none"),
        ("Klaviyo calls", str(r["klaviyo_calls_total"])),
        *((f"  {key}", str(n)) for key, n in r["klaviyo_calls"].items()),
        ("CPU s during the load (2 cores)", ""),
        *((f"  {kind}", str(seconds)) for kind, seconds in r["cpu_seconds"].items()),
    ]
    width = max(len(label) for label, _ in rows) + 2
    print()
    print("outage recovery".ljust(width) + f"{r['outage_seconds']:g} s outage mid-burst")
    for label, value in rows:
        print(label.ljust(width) + value)


def states(counts: dict[str, int]) -> str:
    return ", ".join(f"{state}: {n}" for state, n in sorted(counts.items())) or "-"


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    fives = sum(n for status, n in r["statuses"].items() if status.startswith("5"))
    after = r["seconds_to_all_in_list_after_outage"]
    return [
        target(
            "outage: 0 lost, 0 duplicated, 0 5xx",
            r["lost"] == r["duplicated"] == fives == 0,
            f"{r['lost']} lost, {r['duplicated']} duplicated, {fives} 5xx",
        ),
        target(
            f"outage: every attendee In the list within {RECOVERY_SECONDS} s of recovery",
            after is not None and after <= RECOVERY_SECONDS,
            f"{after} s" if after is not None else "not all within the timeout",
        ),
        target(
            "outage: no request line refused (0 answered 414)",
            r["answered_414"] == 0,
            f"{r['answered_414']} answered 414",
        ),
    ]
