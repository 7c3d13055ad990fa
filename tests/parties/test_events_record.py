"""Events are written with the change that causes them: a signup, a change of time or place,
a cancelled party; each with a unique_id that makes a repeat the same event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from parties import services
from parties.events.catalogue import local_time_words
from parties.flow_views import FLOWS_GUIDE
from parties.models import EventState, PartyEvent, PartyMetric, PartyMoment
from tests.support.signups import signup

METRIC_NAMES = [
    "Registered for Party",
    "Party Starting Soon",
    "Party Details Changed",
    "Party Cancelled",
    "Party Ended",
    "Joined Party Waitlist",
    "Offered Party Spot",
    "Cancelled Party Registration",
    "Checked In to Party",
]


def test_the_metric_names_are_the_documented_ones():
    # Public interface: organizers' flows trigger on these names (docs/klaviyo-flows.md).
    assert [str(metric.label) for metric in PartyMetric] == METRIC_NAMES


def test_the_guide_describes_every_metric_and_every_property(owner, make_connection, make_party):
    # A party's samples carry one event of each metric with every property a real one has.
    connection = make_connection(owner.organization)
    party = make_party(connection=connection)
    services.sample_events_request(connection=connection, user=owner.user, party=party)
    sent = {key for event in PartyEvent.objects.all() for key in event.properties}
    guide = FLOWS_GUIDE.read_text()
    undocumented = [name for name in (*METRIC_NAMES, *sorted(sent)) if f"`{name}`" not in guide]
    assert undocumented == []


def test_a_signup_writes_one_registered_event_with_flat_properties(make_party, settings):
    settings.SITE_URL = "https://partyline.example.com"
    party = make_party(name="Howl-o-ween", address2="Back garden")
    attendee = signup(party, email="sarah@example.com", pet_name="Rex", pet_type="dog")
    event = PartyEvent.objects.get()
    assert (event.metric, event.attendee, event.party) == (PartyMetric.REGISTERED, attendee, party)
    assert (event.email, event.first_name) == ("sarah@example.com", "Sarah")
    assert event.state == EventState.WAITING
    properties = event.properties
    assert properties["party_id"] == party.slug
    assert properties["party_name"] == "Howl-o-ween"
    assert properties["party_url"] == f"https://partyline.example.com/p/{party.slug}/"
    assert properties["address2"] == "Back garden"
    assert (properties["pet_name"], properties["pet_type"]) == ("Rex", "dog")
    assert properties["from_waitlist"] is False
    assert properties["time_zone"] == "UTC"
    assert all(isinstance(value, str | int | float | bool) for value in properties.values())
    assert "sample" not in properties


def test_signing_up_again_is_the_same_registration(make_party):
    party = make_party()
    signup(party, email="sarah@example.com")
    signup(party, email="sarah@example.com", pet_name="Rex")
    assert PartyEvent.objects.count() == 1


def test_a_signup_rolled_back_leaves_no_event(make_party):
    party = make_party()
    try:
        with transaction.atomic():
            signup(party)
            raise RuntimeError("the request failed after the signup was saved")
    except RuntimeError:
        pass
    assert not PartyEvent.objects.exists()


def test_starts_at_local_reads_as_an_email_would_say_it():
    moment = datetime(2026, 12, 25, 1, 0, tzinfo=UTC)
    assert local_time_words(moment, "America/Denver") == "Thursday 24 December, 6:00 pm MST"
    assert local_time_words(moment, "Europe/Paris") == "Friday 25 December, 2:00 am CET"


def test_a_new_time_or_place_is_told_to_each_registered_attendee(make_party):
    party = make_party()
    signup(party, email="a@example.com")
    signup(party, email="b@example.com")
    new_time = party.starts_at + timedelta(hours=2)
    services.party_update(party=party, data={"starts_at": new_time, "city": "Denver"})
    changed = PartyEvent.objects.filter(metric=PartyMetric.DETAILS_CHANGED)
    assert sorted(changed.values_list("email", flat=True)) == ["a@example.com", "b@example.com"]
    properties = changed.first().properties
    assert properties["changed"] == "starts_at,city"
    assert (properties["time_changed"], properties["place_changed"]) == (True, True)
    assert properties["city"] == "Denver"
    # To the second, with the zone's offset.
    assert datetime.fromisoformat(properties["starts_at"]) == new_time.replace(microsecond=0)


def test_a_new_name_or_description_tells_nobody(make_party):
    party = make_party()
    signup(party)
    services.party_update(party=party, data={"name": "Renamed", "description": "More"})
    assert not PartyEvent.objects.filter(metric=PartyMetric.DETAILS_CHANGED).exists()


def test_cancelling_the_party_tells_everyone_once_and_withdraws_what_waits(make_party):
    party = make_party()
    signup(party, email="a@example.com")
    signup(party, email="b@example.com")
    assert services.party_cancel(party=party) is True
    # The guard: a second cancel (a double click, another organizer) tells nobody again.
    assert services.party_cancel(party=party) is False
    cancelled = PartyEvent.objects.filter(metric=PartyMetric.CANCELLED)
    assert cancelled.count() == 2
    assert set(cancelled.values_list("state", flat=True)) == {EventState.WAITING}
    registered = PartyEvent.objects.filter(metric=PartyMetric.REGISTERED)
    assert set(registered.values_list("state", flat=True)) == {EventState.WITHDRAWN}
    party.refresh_from_db()
    assert party.is_cancelled
    assert not party.signups_open
    assert not PartyMoment.objects.filter(party=party, fired_at__isnull=True).exists()
    with pytest.raises(services.PartyError):
        services.party_set_signups_open(party=party, is_open=True)
    with pytest.raises(services.PartyError):
        signup(party, email="c@example.com")


def test_sample_events_one_of_each_metric_for_the_organizer(owner, make_connection, make_party):
    connection = make_connection(owner.organization)
    owner.user.full_name = "Olive Organizer"
    owner.user.save()
    services.sample_events_request(connection=connection, user=owner.user)
    samples = PartyEvent.objects.filter(connection=connection)
    assert samples.count() == len(METRIC_NAMES)
    assert set(samples.values_list("email", flat=True)) == {owner.user.email}
    assert {(e.first_name, e.last_name) for e in samples} == {("Olive", "Organizer")}
    assert all(event.properties["sample"] is True for event in samples)
    assert all(event.party is None for event in samples)
