"""A party's moments: reminders at their lead times on the organization's wall clock, the end,
moved when the party moves, gone when it is cancelled, each fired once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from parties import services
from parties.events.schedule import moment_fire, moments_plan, reminder_due_at
from parties.models import EventState, PartyEvent, PartyMetric, PartyMoment

DENVER = ZoneInfo("America/Denver")


def reminders(party) -> list[tuple[int, datetime]]:
    return list(
        PartyMoment.objects.filter(party=party, metric=PartyMetric.STARTING_SOON)
        .order_by("due_at")
        .values_list("hours_before", "due_at")
    )


def make_due(moment: PartyMoment) -> None:
    """The moment's time has come (moved into the past rather than waited for)."""
    PartyMoment.objects.filter(pk=moment.pk).update(due_at=timezone.now() - timedelta(seconds=1))


def test_a_day_before_is_the_same_wall_clock_time_across_a_daylight_saving_change():
    # Denver leaves daylight saving at 2 am on Sunday 1 November 2026: a 6 pm party that
    # Sunday is reminded at 6 pm on the Saturday, 25 real hours before.
    starts_at = datetime(2026, 11, 1, 18, 0, tzinfo=DENVER)
    due = reminder_due_at(starts_at.astimezone(UTC), 24, "America/Denver")
    assert due == datetime(2026, 10, 31, 18, 0, tzinfo=DENVER)
    assert starts_at - due == timedelta(hours=25)
    # Two hours before is elapsed time.
    assert reminder_due_at(starts_at, 2, "America/Denver") == starts_at - timedelta(hours=2)
    # 26 hours: a day on the wall clock, then two hours.
    assert reminder_due_at(starts_at, 26, "America/Denver") == datetime(
        2026, 10, 31, 16, 0, tzinfo=DENVER
    )


def test_spring_forward_day_before_is_23_hours():
    starts_at = datetime(2027, 3, 14, 18, 0, tzinfo=DENVER)  # DST starts at 2 am that Sunday
    due = reminder_due_at(starts_at, 24, "America/Denver")
    assert due == datetime(2027, 3, 13, 18, 0, tzinfo=DENVER)
    assert starts_at - due == timedelta(hours=23)


def test_a_new_party_plans_its_reminders_and_its_end(owner, make_connection):
    owner.organization.time_zone = "America/Denver"
    owner.organization.save()
    starts_at = timezone.now() + timedelta(days=3)
    party = services.party_create(
        membership=owner,
        connection=make_connection(owner.organization),
        data={"name": "P", "starts_at": starts_at, "address": "1 A St", "city": "B", "state": "C"},
    )
    assert [hours for hours, _ in reminders(party)] == [24, 2]
    end = PartyMoment.objects.get(party=party, metric=PartyMetric.ENDED)
    assert end.due_at == starts_at + timedelta(hours=3)


def test_lead_times_that_have_passed_are_not_planned(make_party):
    party = make_party(starts_at=timezone.now() + timedelta(hours=5))
    moments_plan(party)
    assert [hours for hours, _ in reminders(party)] == [2]


def test_party_lead_times_override_the_organizations(make_party):
    party = make_party(reminder_hours=[48, 1])
    party.organization.reminder_hours = [24]
    party.organization.save()
    moments_plan(party)
    assert [hours for hours, _ in reminders(party)] == [48, 1]
    party.reminder_hours = None
    moments_plan(party)
    assert [hours for hours, _ in reminders(party)] == [24]


def test_moving_the_party_moves_unfired_reminders_and_keeps_fired_ones(make_party):
    party = make_party(starts_at=timezone.now() + timedelta(days=3))
    moments_plan(party)
    day_before = PartyMoment.objects.get(party=party, hours_before=24)
    make_due(day_before)
    moment_fire(day_before.pk)
    services.party_update(party=party, data={"starts_at": party.starts_at + timedelta(hours=1)})
    fired = PartyMoment.objects.filter(party=party, fired_at__isnull=False)
    assert list(fired.values_list("hours_before", flat=True)) == [24]
    unfired = PartyMoment.objects.filter(party=party, fired_at__isnull=True)
    by_kind = {(m.metric, m.hours_before): m.due_at for m in unfired}
    # The day-before reminder for the new time is in the future again: planned anew.
    assert by_kind[(PartyMetric.STARTING_SOON, 24)] == party.starts_at - timedelta(hours=24)
    assert by_kind[(PartyMetric.STARTING_SOON, 2)] == party.starts_at - timedelta(hours=2)
    assert by_kind[(PartyMetric.ENDED, 0)] == party.starts_at + timedelta(hours=3)


def test_a_moment_fires_once_for_everyone_registered_then(make_party, make_attendee):
    party = make_party(starts_at=timezone.now() + timedelta(days=3))
    moments_plan(party)
    make_attendee(party, email="early@example.com")
    moment = PartyMoment.objects.get(party=party, hours_before=24)
    make_due(moment)
    assert moment_fire(moment.pk).events == 1
    # The guard: however many tasks arrive, the moment fires once.
    assert moment_fire(moment.pk).events == 0
    make_attendee(party, email="late@example.com")
    two_hours = PartyMoment.objects.get(party=party, hours_before=2)
    make_due(two_hours)
    moment_fire(two_hours.pk)
    sent = PartyEvent.objects.filter(metric=PartyMetric.STARTING_SOON)
    assert sorted(sent.values_list("email", "properties__hours_before")) == [
        ("early@example.com", 2),
        ("early@example.com", 24),
        ("late@example.com", 2),
    ]


def test_a_moment_does_not_fire_before_its_time(make_party, make_attendee):
    party = make_party()
    moments_plan(party)
    make_attendee(party)
    moment = PartyMoment.objects.get(party=party, hours_before=24)
    assert moment_fire(moment.pk).events == 0
    assert PartyMoment.objects.get(pk=moment.pk).fired_at is None


def test_no_reminder_once_the_party_has_started(make_party, make_attendee):
    party = make_party(starts_at=timezone.now() + timedelta(hours=3))
    moments_plan(party)
    make_attendee(party)
    moment = PartyMoment.objects.get(party=party, hours_before=2)
    PartyMoment.objects.filter(pk=moment.pk).update(due_at=timezone.now() - timedelta(hours=4))
    party.starts_at = timezone.now() - timedelta(minutes=1)
    party.save()
    assert moment_fire(moment.pk).events == 0
    assert not PartyEvent.objects.exists()


def test_the_end_tells_whether_they_attended(make_party, make_attendee):
    party = make_party(starts_at=timezone.now() - timedelta(hours=4))
    PartyMoment.objects.create(
        party=party, metric=PartyMetric.ENDED, due_at=timezone.now() - timedelta(hours=1)
    )
    make_attendee(party)
    moment = PartyMoment.objects.get(party=party)
    moment_fire(moment.pk)
    event = PartyEvent.objects.get()
    assert event.metric == PartyMetric.ENDED
    assert event.properties["attended"] is False
    assert event.occurred_at == moment.due_at


@pytest.mark.parametrize("field", ["starts_at", "reminder_hours"])
def test_waiting_reminders_of_the_old_time_are_withdrawn_when_it_changes(
    field, make_party, make_attendee
):
    party = make_party(starts_at=timezone.now() + timedelta(days=3))
    moments_plan(party)
    make_attendee(party)
    moment = PartyMoment.objects.get(party=party, hours_before=24)
    make_due(moment)
    moment_fire(moment.pk)
    value = party.starts_at + timedelta(days=1) if field == "starts_at" else [12]
    services.party_update(party=party, data={field: value})
    reminder = PartyEvent.objects.get(metric=PartyMetric.STARTING_SOON)
    expected = EventState.WITHDRAWN if field == "starts_at" else EventState.WAITING
    assert reminder.state == expected
