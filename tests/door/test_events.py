"""`Checked In to Party` waits out the grace period and goes only if the check-in still
stands (a tap undone at once tells Klaviyo nothing); a lost task is caught by the door's pass;
`Party Ended` says who attended."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from door import services
from door.announce import grace_period
from door.models import CheckIn
from door.tasks import announce_check_in, door_sweep
from klaviyo_sandbox.models import Event as SandboxEvent
from parties.events import events_send
from parties.events.schedule import moment_fire
from parties.models import PartyEvent, PartyMetric, PartyMoment
from privacy import services as privacy_services
from tests.support.clock import let_time_pass
from tests.support.signups import signup
from tests.support.workers import run_queued_tasks


def checked_in_events() -> list[PartyEvent]:
    return list(PartyEvent.objects.filter(metric=PartyMetric.CHECKED_IN))


def tap(party, membership, attendee, **extra) -> CheckIn:
    answer = services.checkin_record(
        party=party, membership=membership, client_id=uuid4(), attendee_id=attendee.pk, **extra
    )
    assert answer.done, answer.message
    return answer.check_in


def undo_tap(party, membership, attendee) -> None:
    answer = services.checkin_undo(
        party=party, membership=membership, client_id=uuid4(), attendee_id=attendee.pk
    )
    assert answer.done, answer.message


def grace_passes(seconds: float | None = None) -> None:
    """The grace period (or `seconds`) goes by: check-ins and their tasks move into the past."""
    delta = timedelta(seconds=seconds) if seconds is not None else grace_period()
    CheckIn.objects.update(checked_in_at=F("checked_in_at") - delta)
    DBTaskResult.objects.update(run_after=F("run_after") - delta)


pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


@pytest.fixture
def party(sandbox_party):
    """A party whose Klaviyo account is the sandbox's: the events the queue sends go there."""
    return sandbox_party


@pytest.fixture
def zoe(party):
    return signup(party, email="zoe@example.com", first_name="Zoë")


def test_a_check_in_plans_its_event_for_the_end_of_the_grace(party, door_staff, zoe, settings):
    settings.DOOR_CHECKIN_GRACE_SECONDS = 120
    check_in = tap(party, door_staff, zoe)
    task = DBTaskResult.objects.get(task_path=announce_check_in.module_path)
    assert task.run_after == check_in.checked_in_at + timedelta(seconds=120)
    assert checked_in_events() == []


def test_an_undo_within_the_grace_sends_nothing(party, door_staff, zoe):
    tap(party, door_staff, zoe)
    undo_tap(party, door_staff, zoe)
    grace_passes()

    run_queued_tasks()

    assert checked_in_events() == []
    assert CheckIn.objects.get().announced_at is not None


def test_a_check_in_standing_after_the_grace_is_told_once(party, door_staff, zoe, settings):
    came_in = timezone.now() - timedelta(minutes=3)
    tap(party, door_staff, zoe, device_time=came_in)
    grace_passes()

    run_queued_tasks()
    run_queued_tasks()

    (event,) = checked_in_events()
    assert event.attendee == zoe
    assert event.occurred_at == came_in  # when they came in, not when the grace ended
    assert event.properties["walk_in"] is False
    assert (
        event.properties["checked_in_at"]
        == timezone.localtime(came_in).replace(microsecond=0).isoformat()
    )
    assert event.properties["party_id"] == party.slug


def test_an_early_task_comes_back_at_its_time(party, door_staff, zoe):
    check_in = tap(party, door_staff, zoe)
    DBTaskResult.objects.update(run_after=timezone.now())

    run_queued_tasks()

    assert checked_in_events() == []
    waiting = DBTaskResult.objects.filter(
        task_path=announce_check_in.module_path, status="READY"
    ).get()
    assert waiting.run_after == check_in.checked_in_at + grace_period()


def test_checked_in_again_after_an_undo_they_are_told_once(party, door_staff, zoe):
    tap(party, door_staff, zoe)
    grace_passes()
    run_queued_tasks()
    undo_tap(party, door_staff, zoe)
    tap(party, door_staff, zoe)
    grace_passes()
    run_queued_tasks()

    assert len(checked_in_events()) == 1


def test_the_door_pass_tells_what_a_lost_task_did_not(party, door_staff, zoe):
    tap(party, door_staff, zoe)
    DBTaskResult.objects.all().delete()  # the task was lost
    grace_passes(grace_period().total_seconds() - 1)

    door_sweep.call(reschedule=False)
    assert checked_in_events() == []  # not yet: its own task may still come

    grace_passes(60)
    door_sweep.call(reschedule=False)
    assert len(checked_in_events()) == 1
    door_sweep.call(reschedule=False)
    assert len(checked_in_events()) == 1


def test_the_door_pass_keeps_itself_queued(party):
    door_sweep.call()
    door_sweep.call()
    assert DBTaskResult.objects.filter(task_path=door_sweep.module_path).count() == 1


def test_an_erased_guests_check_in_tells_klaviyo_nothing(owner, party, door_staff, zoe):
    tap(party, door_staff, zoe)
    privacy_services.person_erase(
        organization=owner.organization, email="zoe@example.com", actor=owner.user
    )
    grace_passes()
    run_queued_tasks()
    assert checked_in_events() == []


def test_the_event_reaches_klaviyo(party, door_staff, zoe, settings):
    settings.EVENTS_SEND_WINDOW_SECONDS = 0
    tap(party, door_staff, zoe)
    grace_passes()
    run_queued_tasks(include_deferred=True)
    let_time_pass(5)
    events_send(connection_id=party.connection_id)

    recorded = SandboxEvent.objects.using("sandbox").filter(metric__name="Checked In to Party")
    assert recorded.count() == 1
    assert recorded.get().properties["walk_in"] is False


# --- Party Ended ---------------------------------------------------------------------------------


def ended(party) -> PartyMoment:
    return PartyMoment.objects.create(
        party=party, metric=PartyMetric.ENDED, due_at=timezone.now() - timedelta(minutes=1)
    )


def test_party_ended_says_who_attended(party, door_staff):
    came = signup(party, email="came@example.com")
    signup(party, email="home@example.com")
    undone = signup(party, email="undone@example.com")
    tap(party, door_staff, came)
    tap(party, door_staff, undone)
    undo_tap(party, door_staff, undone)

    moment_fire(ended(party).pk)

    attended = {
        event.attendee.email: event.properties["attended"]
        for event in PartyEvent.objects.filter(metric=PartyMetric.ENDED)
    }
    assert attended == {
        "came@example.com": True,
        "home@example.com": False,
        "undone@example.com": False,
    }


def test_party_ended_reads_attendance_in_one_query_per_party(party, door_staff):
    def queries_with(count: int) -> int:
        PartyEvent.objects.all().delete()
        for number in range(count):
            guest = signup(party, email=f"g{count}-{number}@example.com")
            if number % 2:
                tap(party, door_staff, guest)
        moment = ended(party)
        with CaptureQueriesContext(connection) as captured:
            moment_fire(moment.pk)
        return len(captured)

    assert queries_with(3) == queries_with(30)
