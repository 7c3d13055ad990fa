"""The events pipeline against the sandbox: one call per window, exactly one event in Klaviyo
per action whatever fails, and states that are facts read back from Klaviyo."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import ConnectionStatus, KlaviyoConnection
from klaviyo_sandbox import testing
from klaviyo_sandbox.models import Event as SandboxEvent
from parties import services
from parties.events import events_send
from parties.events.gates import EVENTS_GATE, EVENTS_LEASE
from parties.events.record import party_event_record
from parties.models import EventSender, EventState, PartyEvent, PartyMetric
from tests.support.clock import let_time_pass
from tests.support.signups import signup

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])

EVENT_WRITES = ("/api/events", "/api/event-bulk-create-jobs")


@pytest.fixture(autouse=True)
def quick(settings):
    settings.EVENTS_SEND_WINDOW_SECONDS = 2
    # Read back a moment after sending, as in production (the tests let that time pass).
    settings.PARTY_VERIFY_INTERVAL_SECONDS = 3
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


@pytest.fixture
def party(sandbox_party):
    return sandbox_party


def writes() -> int:
    return sum(testing.call_count("POST", path) for path in EVENT_WRITES)


def recorded(metric: str = "Registered for Party") -> list[str]:
    """The unique_ids Klaviyo (the sandbox) recorded for the metric."""
    return list(
        SandboxEvent.objects.using("sandbox")
        .filter(metric__name=metric)
        .values_list("unique_id", flat=True)
    )


def states(**filters: object) -> dict[str, int]:
    rows = PartyEvent.objects.filter(**filters)
    return {
        state: rows.filter(state=state).count()
        for state in EventState.values
        if rows.filter(state=state).exists()
    }


def run(party) -> object:
    return events_send(connection_id=party.connection_id)


def registered(party):
    return PartyEvent.objects.filter(party=party, metric=PartyMetric.REGISTERED)


def test_a_lone_signup_is_one_single_event_call_then_read_back_as_delivered(party):
    attendee = signup(party, email="sarah@example.com", pet_name="Rex")
    report = run(party)
    assert report.sent == 1
    assert testing.call_count("POST", "/api/events", status=202) == 1
    assert testing.call_count("POST", "/api/event-bulk-create-jobs") == 0
    assert states(party=party) == {EventState.SENT: 1}
    let_time_pass(5)
    report = run(party)
    assert report.delivered == 1
    event = registered(party).get()
    assert (event.state, event.attendee) == (EventState.DELIVERED, attendee)
    assert recorded() == [event.unique_id]


def test_a_rush_is_one_write_call_per_window_for_the_whole_account(party, make_party, owner):
    other = services.party_create(
        membership=owner, connection=party.connection, data={**_details(party), "name": "Other"}
    )
    for number in range(30):
        signup(party if number % 2 else other, email=f"guest{number}@example.com")
    run(party)
    # Two parties of one account share one call.
    assert testing.call_count("POST", "/api/event-bulk-create-jobs", status=202) == 1
    for number in range(30, 40):
        signup(party, email=f"guest{number}@example.com")
    run(party)
    assert writes() == 1  # the window is closed
    assert states(state=EventState.WAITING) == {EventState.WAITING: 10}
    let_time_pass(2)
    run(party)
    assert writes() == 2


def test_a_backlog_goes_out_in_full_batches_back_to_back(party, make_attendee):
    attendees = [make_attendee(party, email=f"guest{n}@example.com") for n in range(2500)]
    party_event_record(
        party, PartyMetric.REGISTERED, occurred_at=timezone.now(), occurrence="backlog"
    )
    assert len(attendees) == PartyEvent.objects.count()
    report = run(party)
    assert report.sent == 2500
    assert testing.call_count("POST", "/api/event-bulk-create-jobs", status=202) == 3


def test_sending_a_batch_again_makes_no_second_event(party):
    for number in range(5):
        signup(party, email=f"guest{number}@example.com")
    run(party)
    # The worker died after Klaviyo accepted the call, before it wrote that down.
    registered(party).update(state=EventState.WAITING)
    let_time_pass(2)
    run(party)
    assert writes() == 2
    let_time_pass(5)
    run(party)
    assert sorted(recorded()) == sorted(registered(party).values_list("unique_id", flat=True))
    assert states(party=party) == {EventState.DELIVERED: 5}


def test_a_killed_workers_claims_are_sent_once_by_the_next_run(party):
    for number in range(3):
        signup(party, email=f"guest{number}@example.com")
    # A worker claimed the batch and died: its claims stay `sending` under a lease that lapses.
    registered(party).update(state=EventState.SENDING, claimed_at=timezone.now())
    EventSender.objects.filter(pk=party.connection_id).update(
        lease_holder="dead", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    run(party)
    let_time_pass(5)
    run(party)
    assert len(recorded()) == 3
    assert states(party=party) == {EventState.DELIVERED: 3}


def test_a_live_lease_keeps_a_second_run_out(party):
    signup(party)
    assert EVENTS_LEASE.claim(party.connection_id, holder="other", seconds=60)
    assert run(party).outcome == "busy"
    assert writes() == 0
    assert states(party=party) == {EventState.WAITING: 1}


def test_klaviyo_busy_keeps_events_waiting_until_retry_after(party):
    for number in range(3):
        signup(party, email=f"guest{number}@example.com")
    testing.start_throttle_storm(30)
    report = run(party)
    assert report.outcome == "rate_limited"
    assert states(party=party) == {EventState.WAITING: 3}
    assert not EVENTS_GATE.is_open(party.connection_id)
    testing.clear_faults()
    let_time_pass(60)
    run(party)
    let_time_pass(5)
    run(party)
    assert len(recorded()) == 3


def test_an_outage_backs_off_and_loses_nothing(party):
    for number in range(3):
        signup(party, email=f"guest{number}@example.com")
    testing.start_outage(30)
    report = run(party)
    assert report.outcome == "unavailable"
    assert EventSender.objects.get(pk=party.connection_id).failures == 1
    assert states(party=party) == {EventState.WAITING: 3}
    testing.clear_faults()
    let_time_pass(60)
    run(party)
    let_time_pass(5)
    run(party)
    assert len(recorded()) == 3
    assert EventSender.objects.get(pk=party.connection_id).failures == 0


def test_events_wait_while_the_connection_needs_reconnecting(party):
    signup(party)
    KlaviyoConnection.objects.filter(pk=party.connection_id).update(
        status=ConnectionStatus.NEEDS_RECONNECT
    )
    assert run(party).outcome == "paused"
    sender = EventSender.objects.get(pk=party.connection_id)
    assert sender.paused_reason == "The Klaviyo connection needs reconnecting."
    assert states(party=party) == {EventState.WAITING: 1}
    KlaviyoConnection.objects.filter(pk=party.connection_id).update(status=ConnectionStatus.ACTIVE)
    party.connection.refresh_from_db()
    assert services.events_resume(connection=party.connection)
    run(party)
    assert states(party=party) == {EventState.SENT: 1}
    assert EventSender.objects.get(pk=party.connection_id).paused_reason == ""


def test_events_wait_for_their_scopes_and_the_page_can_say_which(party):
    signup(party)
    connection = party.connection
    connection.scopes = [s for s in connection.scopes if s != "events:write"]
    connection.save()
    assert run(party).outcome == "paused"
    assert "events:write" in EventSender.objects.get(pk=connection.pk).paused_reason
    assert writes() == 0


def test_klaviyo_dropping_an_event_ends_in_a_state_the_organizer_can_tell_apart(party, settings):
    signup(party, email="sarah@example.com")
    signup(party, email="nobody@bounce.invalid")
    run(party)
    let_time_pass(5)
    run(party)
    # Klaviyo counts 1 of the 2 sent: it may still be recording, so nothing is paged yet.
    assert testing.call_count("GET", "/api/events") == 0
    assert states(party=party) == {EventState.SENT: 2}
    let_time_pass(10)
    run(party)
    # The count stopped moving: Klaviyo is done, so the events are read once.
    assert testing.call_count("GET", "/api/events") == 1
    assert states(party=party) == {EventState.DELIVERED: 1, EventState.SENT: 1}
    let_time_pass(11 * 60)
    run(party)
    dropped = registered(party).get(email="nobody@bounce.invalid")
    assert dropped.state == EventState.NOT_RECORDED
    assert "drops the events of profiles it rejects" in dropped.reason


def test_a_batch_klaviyo_records_slowly_is_read_once_it_is_recorded(party, make_attendee, settings):
    settings.SANDBOX_JOB_SECONDS = 40  # Klaviyo takes its time over this batch
    for number in range(450):
        make_attendee(party, email=f"guest{number}@example.com")
    party_event_record(party, PartyMetric.REGISTERED, occurred_at=timezone.now(), occurrence="x")
    run(party)
    for _look in range(3):  # looks at doubling intervals while Klaviyo records
        let_time_pass(8)
        run(party)
    # Nothing is paged while Klaviyo has not recorded them (its metric does not exist yet).
    assert testing.call_count("GET", "/api/events") == 0
    let_time_pass(60)
    run(party)
    assert states(party=party) == {EventState.DELIVERED: 450}
    # Paged once, when Klaviyo held them all: ceil(450 / 200) reads.
    assert testing.call_count("GET", "/api/events") == 3


def test_read_back_costs_at_most_one_read_per_200_events(party, make_attendee):
    for number in range(450):
        make_attendee(party, email=f"guest{number}@example.com")
    party_event_record(party, PartyMetric.REGISTERED, occurred_at=timezone.now(), occurrence="x")
    run(party)
    testing.clear_calls()
    let_time_pass(5)
    report = run(party)
    assert report.delivered == 450
    reads = testing.call_count("GET", "/api/events")
    metrics = testing.call_count("GET", "/api/metrics")
    assert reads == 3  # ceil(450 / 200)
    assert metrics == 1  # learnt once for the account
    let_time_pass(5)
    signup(party, email="late@example.com")
    run(party)
    let_time_pass(5)
    run(party)
    assert testing.call_count("GET", "/api/metrics") == 1


def _details(party) -> dict[str, object]:
    return {
        "starts_at": party.starts_at,
        "address": party.address,
        "city": party.city,
        "state": party.state,
    }
