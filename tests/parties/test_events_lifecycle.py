"""The events engine around the sends: the first connect's samples, a reconnect resuming what
waits, the sweep that loses nothing, and the guards that keep one event one event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from integrations.models import ConnectionStatus, KlaviyoConnection
from klaviyo_sandbox import testing
from klaviyo_sandbox.models import Event as SandboxEvent
from klaviyo_sandbox.models import Installation
from parties import tasks
from parties.events import events_send
from parties.events.record import events_withdraw
from parties.models import EventSender, EventState, PartyEvent, PartyMetric, PartyMoment
from tests.support.clock import let_time_pass
from tests.support.connect_flow import connect_through_sandbox
from tests.support.signups import signup
from tests.support.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


@pytest.fixture(autouse=True)
def quick(settings):
    settings.EVENTS_SEND_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


def test_the_first_connect_sends_one_sample_of_each_metric_and_a_reconnect_none(
    login, owner, sandbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        connect_through_sandbox(login(owner))
    connection = KlaviyoConnection.objects.get()
    samples = PartyEvent.objects.filter(connection=connection)
    assert samples.count() == len(PartyMetric)
    assert set(samples.values_list("email", flat=True)) == {owner.user.email}
    run_queued_tasks()
    metrics = set(SandboxEvent.objects.using("sandbox").values_list("metric__name", flat=True))
    assert metrics == {str(metric.label) for metric in PartyMetric}

    with django_capture_on_commit_callbacks(execute=True):
        connect_through_sandbox(login(owner))
    assert PartyEvent.objects.count() == len(PartyMetric)


def test_a_reconnect_sends_what_waited(
    login, owner, sandbox_party, django_capture_on_commit_callbacks
):
    party = sandbox_party
    testing.uninstall(Installation.objects.using("sandbox").get(uninstalled_at__isnull=True))
    KlaviyoConnection.objects.update(access_token_expires_at=timezone.now())
    for number in range(3):
        signup(party, f"guest{number}@example.com")
    run_queued_tasks()
    assert party.connection.__class__.objects.get().status == ConnectionStatus.NEEDS_RECONNECT
    registered = PartyEvent.objects.filter(metric=PartyMetric.REGISTERED)
    assert set(registered.values_list("state", flat=True)) == {EventState.WAITING}
    assert EventSender.objects.get().paused_reason

    with django_capture_on_commit_callbacks(execute=True):
        connect_through_sandbox(login(owner))
    run_queued_tasks()
    assert set(registered.values_list("state", flat=True)) <= {
        EventState.SENT,
        EventState.DELIVERED,
    }
    assert EventSender.objects.get().paused_reason == ""


def test_the_sweep_sends_what_a_lost_task_left_and_fires_lost_moments(sandbox_party):
    party = sandbox_party
    signup(party)
    DBTaskResult.objects.all().delete()  # the queue lost every task
    PartyEvent.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    EventSender.objects.update(next_run_at=timezone.now() - timedelta(minutes=5))
    moment = PartyMoment.objects.get(party=party, hours_before=24)
    PartyMoment.objects.filter(pk=moment.pk).update(due_at=timezone.now() - timedelta(minutes=1))

    result = tasks.sweep_now()

    assert result["event_senders_enqueued"] == 1
    assert result["moments_fired"] == 1
    run_queued_tasks()
    assert PartyEvent.objects.filter(metric=PartyMetric.STARTING_SOON).exists()
    assert not PartyEvent.objects.filter(state=EventState.WAITING).exists()


def test_the_sweep_plans_parties_from_before_moments_existed(make_party):
    party = make_party()
    assert not PartyMoment.objects.filter(party=party).exists()
    tasks.sweep_now()
    assert PartyMoment.objects.filter(party=party).count() == 3
    fire = DBTaskResult.objects.filter(
        task_path=tasks.fire_moment.module_path, status=TaskResultStatus.READY
    )
    assert fire.count() == 3


def test_withdrawing_leaves_an_event_being_sent_alone(make_party):
    party = make_party()
    signup(party, email="a@example.com")
    signup(party, email="b@example.com")
    being_sent = PartyEvent.objects.get(email="a@example.com")
    PartyEvent.objects.filter(pk=being_sent.pk).update(state=EventState.SENDING)
    # The guard: only waiting events are withdrawn; one on its way to Klaviyo is not.
    assert events_withdraw(PartyEvent.objects.all(), "why") == 1
    assert PartyEvent.objects.get(pk=being_sent.pk).state == EventState.SENDING


def test_a_run_never_marks_sent_a_claim_another_run_took_over(sandbox_party, monkeypatch):
    party = sandbox_party
    signup(party)
    from integrations.klaviyo.client import KlaviyoClient

    original = KlaviyoClient.create_event

    def slow_create(self, *, event):
        original(self, event=event)
        # Meanwhile this run's lease lapsed and another run re-claimed the event.
        PartyEvent.objects.update(claimed_at=timezone.now() + timedelta(seconds=1))

    monkeypatch.setattr(KlaviyoClient, "create_event", slow_create)
    report = events_send(connection_id=party.connection_id)
    assert report.sent == 0
    assert PartyEvent.objects.get(metric=PartyMetric.REGISTERED).state == EventState.SENDING


def test_a_cancelled_connection_pauses_instead_of_calling(sandbox_party):
    party = sandbox_party
    signup(party)
    KlaviyoConnection.objects.update(status=ConnectionStatus.REVOKED)
    testing.clear_calls()
    assert events_send(connection_id=party.connection_id).outcome == "paused"
    assert testing.calls() == []
    let_time_pass(5)
    assert PartyEvent.objects.get().state == EventState.WAITING
