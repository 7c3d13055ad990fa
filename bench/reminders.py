"""Scenario 7, the reminder minute: 10,000 registered attendees of parties of one Klaviyo
account whose `Party Starting Soon` moment is due at the same minute.

One organizer with one connection makes `PARTIES` parties through the product's service,
each reminding its attendees two hours before it starts, every party starting two hours after
one due time, a little ahead (`LEAD_SECONDS`: room to write the attendees). The attendees
are written straight to the database, already in the list (the sync has nothing to do: the
scenario is the reminders). At the due time the stack's task workers fire the moments (one
task per party) and send the events; measured from the due time: seconds until Klaviyo
accepted (202) every reminder, and until every one is delivered (read back from Klaviyo),
polled in the product database, and the event write calls made (the sandbox's call log).
Targets (issue 20): at most 10 write calls, all accepted within 60 s of the due time.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

from bench.fixtures import organizer_with_connection
from bench.stack import Context, event_writes, klaviyo_calls, target

ATTENDEES = 10_000
PARTIES = 10
LEAD_SECONDS = 40
HOURS_BEFORE = 2
WRITES_TARGET = 10
ACCEPTED_TARGET_SECONDS = 60


def prepare(due_at: Any) -> list[int]:
    """The organizer's parties, their moment due at `due_at`, and their attendees: the
    parties' ids."""
    from django.utils import timezone

    from klaviyo_sandbox import testing
    from parties import services
    from parties.models import Attendee, SyncState

    membership, connection = organizer_with_connection(name="Reminders", account=testing.ACME)
    per_party = ATTENDEES // PARTIES
    now = timezone.now()
    party_ids = []
    for number in range(PARTIES):
        party = services.party_create(
            membership=membership,
            connection=connection,
            data={
                "name": f"Benchmark: reminder minute {number + 1}",
                "starts_at": due_at + timedelta(hours=HOURS_BEFORE),
                "reminder_hours": [HOURS_BEFORE],
                "address": "1 Main St",
                "city": "Boston",
                "state": "MA",
            },
        )
        Attendee.objects.bulk_create(
            (
                Attendee(
                    party=party,
                    email=f"reminded-{party.pk}-{n}@example.com",
                    first_name="Guest",
                    consented_at=now,
                    marketing_consent=True,
                    sync_state=SyncState.SYNCED,
                )
                for n in range(per_party)
            ),
            batch_size=1000,
        )
        party_ids.append(party.pk)
    return party_ids


def run(context: Context) -> dict[str, Any]:
    from django.utils import timezone

    from klaviyo_sandbox import testing
    from parties.models import EventState, PartyEvent, PartyMetric, PartyMoment

    stack = context.stack
    # A whole second: the moment's time, as an organizer's wall clock has it.
    due_at = (timezone.now() + timedelta(seconds=LEAD_SECONDS)).replace(microsecond=0)
    party_ids = prepare(due_at)
    moments = PartyMoment.objects.filter(party_id__in=party_ids, metric=PartyMetric.STARTING_SOON)
    prepared_with = (due_at - timezone.now()).total_seconds()
    # Everything so far (the parties' lists) is done before the due time: count from there.
    while timezone.now() < due_at - timedelta(seconds=1):
        stack.check()
        time.sleep(0.2)
    testing.clear_calls()
    reminders = PartyEvent.objects.filter(party_id__in=party_ids, metric=PartyMetric.STARTING_SOON)
    accepted_states = [EventState.SENT, EventState.DELIVERED]
    accepted_after = delivered_after = None
    deadline = due_at + timedelta(seconds=context.args.timeout)
    while timezone.now() < deadline:
        stack.check()
        seconds = round((timezone.now() - due_at).total_seconds(), 1)
        if accepted_after is None and reminders.filter(state__in=accepted_states).count() >= (
            ATTENDEES
        ):
            accepted_after = seconds
        if reminders.filter(state=EventState.DELIVERED).count() >= ATTENDEES:
            delivered_after = seconds
            break
        time.sleep(0.25)
    calls = klaviyo_calls()
    fired = moments.filter(fired_at__isnull=False)
    report = {
        "attendees": ATTENDEES,
        "parties": PARTIES,
        "seconds_prepared_before_due": round(prepared_with, 1),
        "moments_fired": fired.count(),
        "first_fired_after_s": _fired_after(fired, due_at, first=True),
        "last_fired_after_s": _fired_after(fired, due_at, first=False),
        "events": reminders.count(),
        "event_states": dict(Counter(reminders.values_list("state", flat=True))),
        "seconds_to_all_accepted": accepted_after,
        "seconds_to_all_delivered": delivered_after,
        "event_write_calls": event_writes(calls),
        "klaviyo_calls": dict(sorted(calls.items())),
    }
    print("done: reminder minute", flush=True)
    print_table(report)
    return {"results": report, "targets": targets(report)}


def _fired_after(fired: Any, due_at: Any, *, first: bool) -> float | None:
    moment = fired.order_by("fired_at" if first else "-fired_at").first()
    return round((moment.fired_at - due_at).total_seconds(), 1) if moment else None


def print_table(r: dict[str, Any]) -> None:
    def timed(value: float | None) -> str:
        return f"{value} s" if value is not None else "not within the timeout"

    rows = [
        ("reminders due", f"{r['attendees']} attendees of {r['parties']} parties, one account"),
        (
            "moments fired after the due time",
            f"{r['moments_fired']}, from {r['first_fired_after_s']} to {r['last_fired_after_s']} s",
        ),
        ("events written", str(r["events"])),
        ("all accepted (202) after the due time", timed(r["seconds_to_all_accepted"])),
        ("all delivered (read back) after it", timed(r["seconds_to_all_delivered"])),
        ("event write calls", str(r["event_write_calls"])),
        ("states at the end", ", ".join(f"{k}: {v}" for k, v in sorted(r["event_states"].items()))),
        *((f"  {key}", str(n)) for key, n in r["klaviyo_calls"].items()),
    ]
    width = max(len(label) for label, _ in rows) + 2
    print()
    print("reminder minute".ljust(width) + "Party Starting Soon, due at one time")
    for label, value in rows:
        print(label.ljust(width) + value)


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    accepted = r["seconds_to_all_accepted"]
    return [
        target(
            f"reminder minute: at most {WRITES_TARGET} event write calls for {r['attendees']}",
            r["event_write_calls"] <= WRITES_TARGET,
            f"{r['event_write_calls']} write calls",
        ),
        target(
            f"reminder minute: all accepted within {ACCEPTED_TARGET_SECONDS} s of the due time",
            accepted is not None and accepted <= ACCEPTED_TARGET_SECONDS,
            f"{accepted} s" if accepted is not None else "not all within the timeout",
        ),
    ]
