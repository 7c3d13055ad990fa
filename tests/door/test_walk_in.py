"""Walk-ins: someone at the door who is not registered gets registered on the staff's phone,
with the public form's consent wording, source "door", and is checked in at once; a full
party takes them only when the staff member confirms letting them in over capacity."""

from __future__ import annotations

from uuid import uuid4

import pytest

from door.models import CheckIn
from parties import places
from parties import services as party_services
from parties.models import Attendee, Party, PartyEvent, PartyMetric, Place, SignupSource
from tests.support.door import door_url
from tests.support.signups import signup


def walk_in_form(**changes: str) -> dict[str, str]:
    return {
        "first_name": "Zoë",
        "last_name": "Martin",
        "email": "Zoe@Example.com",
        "marketing_consent": "on",
        "client_id": str(uuid4()),
        **changes,
    }


def test_the_form_asks_the_public_forms_consent(login, door_staff, owner, party):
    wording = party_services.consent_wording_current(organization=owner.organization, language="en")
    page = login(door_staff).get(door_url("walk_in", party)).content.decode()
    assert wording.marketing in page
    assert wording.registration in page
    assert "Let them in over capacity" not in page  # not full


def test_a_walk_in_is_registered_with_their_consent_and_checked_in(login, door_staff, owner, party):
    wording = party_services.consent_wording_current(organization=owner.organization, language="en")
    response = login(door_staff).post(door_url("walk_in", party), walk_in_form(), follow=True)

    assert response.redirect_chain[-1][0] == door_url("door_page", party)
    assert "Walk-in registered: Zoë Martin checked in." in response.content.decode()
    attendee = Attendee.objects.get()
    assert (attendee.email, attendee.place) == ("zoe@example.com", Place.REGISTERED)
    assert attendee.signup_source == SignupSource.DOOR
    assert attendee.marketing_consent is True
    assert attendee.consent_wording == wording
    assert attendee.consented_at is not None
    check_in = CheckIn.objects.get()
    assert (check_in.attendee, check_in.walk_in) == (attendee, True)
    assert (check_in.checked_in_by, check_in.checked_in_by_name) == (door_staff.user, "Ana")
    # Registered like anyone: their confirmation goes out.
    assert PartyEvent.objects.filter(attendee=attendee, metric=PartyMetric.REGISTERED).exists()


def test_a_walk_in_who_declines_email_is_registered_all_the_same(login, door_staff, party):
    form = walk_in_form()
    del form["marketing_consent"]
    login(door_staff).post(door_url("walk_in", party), form)
    attendee = Attendee.objects.get()
    assert attendee.marketing_consent is False
    assert attendee.consent_wording is not None
    assert CheckIn.objects.get().walk_in


def test_the_form_sent_twice_registers_and_checks_in_once(login, door_staff, make_party, owner):
    party = make_party(owner.organization, capacity=1)
    signup(party, email="first@example.com")
    client = login(door_staff)
    form = walk_in_form(over_capacity="on")

    client.post(door_url("walk_in", party), form)
    client.post(door_url("walk_in", party), form)

    assert Attendee.objects.filter(email="zoe@example.com").count() == 1
    assert CheckIn.objects.count() == 1
    assert Party.objects.get(pk=party.pk).capacity == 2  # raised once


def test_a_full_party_asks_before_letting_them_in_over_capacity(
    login, door_staff, owner, make_party
):
    party = make_party(owner.organization, capacity=1)
    signup(party, email="first@example.com")
    signup(party, email="waiting@example.com")  # the waitlist's first
    client = login(door_staff)
    assert "Let them in over capacity" in client.get(door_url("walk_in", party)).content.decode()

    refused = client.post(door_url("walk_in", party), walk_in_form())

    assert refused.status_code == 400
    assert "The party is full (1 of 1 places taken)." in refused.content.decode()
    assert not Attendee.objects.filter(email="zoe@example.com").exists()
    assert Party.objects.get(pk=party.pk).capacity == 1
    assert not CheckIn.objects.exists()

    client.post(door_url("walk_in", party), walk_in_form(over_capacity="on"))

    party.refresh_from_db()
    assert (party.capacity, party.seats_taken) == (2, 2)
    assert Attendee.objects.get(email="zoe@example.com").place == Place.REGISTERED
    # The place made is theirs: the waitlist does not move for it.
    assert Attendee.objects.get(email="waiting@example.com").place == Place.WAITLISTED
    assert CheckIn.objects.get().walk_in


def test_a_party_filling_up_meanwhile_asks_for_the_confirmation(
    login, door_staff, owner, make_party
):
    party = make_party(owner.organization, capacity=2)
    signup(party, email="first@example.com")
    client = login(door_staff)
    client.get(door_url("walk_in", party))  # a place was free when the form was shown...
    signup(party, email="second@example.com")  # ...and went meanwhile

    response = client.post(door_url("walk_in", party), walk_in_form())

    assert response.status_code == 400
    assert "Let them in over capacity" in response.content.decode()
    assert not Attendee.objects.filter(email="zoe@example.com").exists()


def test_someone_registered_already_is_checked_in_instead(login, door_staff, party):
    zoe = signup(party, email="zoe@example.com", first_name="Zoë", marketing_consent=False)
    response = login(door_staff).post(door_url("walk_in", party), walk_in_form(), follow=True)

    assert "zoe@example.com was registered already: checked in instead." in (
        response.content.decode()
    )
    assert Attendee.objects.count() == 1
    check_in = CheckIn.objects.get()
    assert (check_in.attendee, check_in.walk_in) == (zoe, False)
    zoe.refresh_from_db()
    assert zoe.signup_source == SignupSource.PUBLIC_PAGE  # their registration is untouched


@pytest.mark.parametrize("place", [Place.WAITLISTED, Place.CANCELLED])
def test_someone_waiting_or_cancelled_is_registered_at_the_door(
    login, door_staff, owner, make_party, place
):
    party = make_party(owner.organization, capacity=1)
    signup(party, email="first@example.com")
    zoe = signup(party, email="zoe@example.com")
    if place == Place.CANCELLED:
        places.attendee_cancel(attendee=zoe, by=places.BY_ATTENDEE)

    login(door_staff).post(door_url("walk_in", party), walk_in_form(over_capacity="on"))

    zoe.refresh_from_db()
    assert zoe.place == Place.REGISTERED
    assert CheckIn.objects.get().attendee == zoe
    party.refresh_from_db()
    assert party.seats_taken <= party.capacity


def test_closed_signups_still_take_walk_ins(login, door_staff, party):
    party_services.party_set_signups_open(party=party, is_open=False)
    login(door_staff).post(door_url("walk_in", party), walk_in_form())
    assert Attendee.objects.get().place == Place.REGISTERED
    assert CheckIn.objects.exists()


def test_a_cancelled_party_takes_no_walk_in(login, door_staff, party):
    party_services.party_cancel(party=party)
    response = login(door_staff).post(door_url("walk_in", party), walk_in_form(), follow=True)
    assert "This party was cancelled" in response.content.decode()
    assert not Attendee.objects.exists()


def test_the_walk_in_form_shows_its_errors(login, door_staff, party):
    response = login(door_staff).post(
        door_url("walk_in", party), walk_in_form(first_name="", email="nope")
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter your first name." in page
    assert "Enter a valid email address" in page
    assert not Attendee.objects.exists()
