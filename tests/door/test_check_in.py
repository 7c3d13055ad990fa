"""Checking a guest in at the door and undoing it, as phones send them: each action applied
once per id the phone made, one standing check-in per guest whatever number of phones tap at
once, only registered guests, and every answer JSON the page shows as it is."""

from __future__ import annotations

import threading
from datetime import timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from door import services
from door.models import CheckIn
from door.services import Outcome
from parties import places
from parties.models import Place
from tests.support.database import skip_without_connections
from tests.support.door import check_in, door_url, post_json, undo
from tests.support.signups import signup


@pytest.fixture
def zoe(party):
    return signup(party, email="zoe@example.com", first_name="Zoë", last_name="Martin")


def test_a_registered_guest_is_checked_in_with_who_and_when(login, door_staff, party, zoe):
    response = check_in(login(door_staff), party, zoe)

    assert response.status_code == 200
    answer = response.json()
    assert (answer["ok"], answer["outcome"]) == (True, "checked_in")
    assert answer["message"] == "Zoë Martin checked in."
    row = CheckIn.objects.get()
    assert (row.attendee, row.party, row.checked_in_by) == (zoe, party, door_staff.user)
    assert row.checked_in_by_name == "Ana"
    assert not row.walk_in
    assert row.undone_at is None
    guest = answer["guest"]
    assert (guest["id"], guest["place"], guest["by"]) == (zoe.pk, "r", "Ana")
    assert guest["in"] == int(row.checked_in_at.timestamp())
    assert guest["check_in"] == str(row.client_id)


def test_a_check_in_sent_again_is_applied_once_with_the_same_answer(login, door_staff, party, zoe):
    client = login(door_staff)
    client_id = str(uuid4())
    first = check_in(client, party, zoe, client_id=client_id)
    again = check_in(client, party, zoe, client_id=client_id)

    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    assert CheckIn.objects.count() == 1


def test_a_check_in_resent_after_its_undo_does_not_stand_again(login, door_staff, party, zoe):
    client = login(door_staff)
    client_id = str(uuid4())
    check_in(client, party, zoe, client_id=client_id)
    undo(client, party, zoe)

    again = check_in(client, party, zoe, client_id=client_id)

    assert again.status_code == 200
    assert again.json()["guest"]["in"] is None  # as they stand now: not checked in
    assert CheckIn.objects.count() == 1
    assert not CheckIn.objects.filter(undone_at=None).exists()


def test_a_second_phone_is_told_who_was_first_and_when(login, door_staff, owner, party, zoe):
    first = check_in(login(door_staff), party, zoe)
    assert first.status_code == 200
    row = CheckIn.objects.get()
    CheckIn.objects.filter(pk=row.pk).update(
        checked_in_at=row.checked_in_at.replace(hour=19, minute=4)
    )

    second = check_in(login(owner), party, zoe)

    assert second.status_code == 409
    answer = second.json()
    assert (answer["ok"], answer["outcome"]) == (False, "already_checked_in")
    assert answer["message"] == "Already checked in at 19:04 by Ana."
    assert answer["guest"]["by"] == "Ana"
    assert CheckIn.objects.count() == 1


def test_the_time_said_is_on_the_organizations_clock(login, door_staff, owner, party, zoe):
    owner.organization.time_zone = "America/Denver"
    owner.organization.save()
    check_in(login(door_staff), party, zoe)
    row = CheckIn.objects.get()

    answer = check_in(login(owner), party, zoe).json()

    denver = timezone.localtime(row.checked_in_at, ZoneInfo("America/Denver"))
    assert answer["message"] == f"Already checked in at {denver:%H:%M} by Ana."


def test_an_offline_check_in_keeps_the_phones_time(login, door_staff, party, zoe):
    came_in = timezone.now() - timedelta(minutes=25)
    response = check_in(login(door_staff), party, zoe, device_time=int(came_in.timestamp() * 1000))
    row = CheckIn.objects.get()
    assert abs((row.arrived_at - came_in).total_seconds()) < 1
    assert response.json()["guest"]["in"] == int(row.arrived_at.timestamp())
    assert row.checked_in_at > came_in  # recorded by the server when it arrived


@pytest.mark.parametrize("off_by", [timedelta(days=3), -timedelta(days=30)])
def test_a_phone_clock_far_off_is_not_believed(login, door_staff, party, zoe, off_by):
    wrong = timezone.now() + off_by
    check_in(login(door_staff), party, zoe, device_time=int(wrong.timestamp() * 1000))
    row = CheckIn.objects.get()
    assert timezone.now() - row.arrived_at < timedelta(minutes=1)


def test_a_guest_is_found_by_their_qr_code(login, door_staff, party, zoe):
    response = check_in(login(door_staff), party, code=zoe.checkin_code)
    assert response.status_code == 200
    assert CheckIn.objects.get().attendee == zoe


def test_an_unknown_code_is_404_and_records_nothing(login, door_staff, party, zoe):
    response = check_in(login(door_staff), party, code="not-a-code")
    assert response.status_code == 404
    assert response.json()["outcome"] == "unknown_guest"
    assert not CheckIn.objects.exists()


@pytest.mark.parametrize(
    ("place", "words"),
    [
        (Place.WAITLISTED, "Zoë Martin is on the waitlist, not registered."),
        (Place.CANCELLED, "Zoë Martin cancelled their registration."),
    ],
)
def test_only_registered_guests_are_checked_in(login, door_staff, party, zoe, place, words):
    if place == Place.CANCELLED:
        places.attendee_cancel(attendee=zoe, by=places.BY_ATTENDEE)
    else:
        type(zoe).objects.filter(pk=zoe.pk).update(place=place)

    response = check_in(login(door_staff), party, zoe)

    assert response.status_code == 409
    answer = response.json()
    assert answer["outcome"] == "not_registered"
    assert answer["message"].startswith(words)
    assert "add them as a walk-in" in answer["message"]
    assert answer["guest"]["place"] == place.value[0]
    assert not CheckIn.objects.exists()


def test_nobody_is_checked_in_at_a_cancelled_party(login, door_staff, party, zoe):
    from parties import services as party_services

    party_services.party_cancel(party=party)
    response = check_in(login(door_staff), party, zoe)
    assert response.status_code == 409
    assert response.json()["outcome"] == "party_cancelled"
    assert not CheckIn.objects.exists()


def test_an_undo_undoes_the_standing_check_in_once(login, door_staff, owner, party, zoe):
    client = login(door_staff)
    check_in(client, party, zoe)
    undo_id = str(uuid4())

    first = undo(client, party, zoe, client_id=undo_id)
    again = undo(client, party, zoe, client_id=undo_id)

    assert first.status_code == again.status_code == 200
    assert first.json()["outcome"] == again.json()["outcome"] == "undone"
    assert first.json()["guest"]["in"] is None
    row = CheckIn.objects.get()
    assert row.undone_at is not None
    assert row.undone_by == door_staff.user
    assert str(row.undo_client_id) == undo_id
    # Checked in again: a new check-in stands beside the undone one.
    assert check_in(client, party, zoe).status_code == 200
    assert CheckIn.objects.filter(undone_at=None).count() == 1
    # The first undo sent once more changes nothing.
    assert undo(client, party, zoe, client_id=undo_id).json()["guest"]["in"] is not None
    assert CheckIn.objects.filter(undone_at=None).count() == 1


def test_an_undo_of_a_check_in_replaced_since_undoes_nothing(login, door_staff, owner, party, zoe):
    client = login(door_staff)
    seen = check_in(client, party, zoe).json()["guest"]["check_in"]
    undo(login(owner), party, zoe)  # another phone undid it...
    check_in(login(owner), party, zoe)  # ...and checked them in again

    response = undo(client, party, zoe, check_in=seen)

    assert response.status_code == 409
    assert response.json()["outcome"] == "checked_in_since"
    assert "nothing was undone" in response.json()["message"]
    assert CheckIn.objects.filter(undone_at=None).count() == 1


def test_undoing_someone_not_checked_in_changes_nothing(login, door_staff, party, zoe):
    response = undo(login(door_staff), party, zoe)
    assert response.status_code == 200
    assert response.json()["outcome"] == "not_checked_in"
    assert not CheckIn.objects.exists()


def test_a_client_id_of_another_partys_action_is_refused(login, door_staff, party, make_party, zoe):
    client = login(door_staff)
    client_id = str(uuid4())
    check_in(client, party, zoe, client_id=client_id)
    other = make_party(party.organization)
    someone = signup(other, email="bo@example.com")

    response = check_in(client, other, someone, client_id=client_id)

    assert response.status_code == 409
    assert response.json()["outcome"] == "client_id_reused"
    assert response.json()["guest"] is None
    assert CheckIn.objects.count() == 1


def test_another_organizations_party_is_404(login, door_staff, make_party, make_member):
    elsewhere = make_party()
    guest = signup(elsewhere, email="x@example.com")
    client = login(door_staff)
    assert check_in(client, elsewhere, guest).status_code == 404
    assert undo(client, elsewhere, guest).status_code == 404
    assert not CheckIn.objects.exists()


def test_a_guest_of_another_party_is_not_on_this_list(login, door_staff, party, make_party, zoe):
    other = make_party(party.organization)
    response = check_in(login(door_staff), other, zoe)
    assert response.status_code == 404
    assert not CheckIn.objects.exists()


def test_a_check_in_needs_the_csrf_token(door_staff, login, party, zoe):
    client = login(door_staff, Client(enforce_csrf_checks=True))
    refused = check_in(client, party, zoe)
    assert refused.status_code == 403
    assert not CheckIn.objects.exists()
    client.get(door_url("door_page", party))  # the page sets the cookie the header repeats
    token = client.cookies["csrftoken"].value
    body = {"attendee": zoe.pk, "client_id": str(uuid4())}
    accepted = post_json(client, door_url("check_in", party), body, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200


def test_a_visitor_is_sent_to_log_in(client, party, zoe):
    response = check_in(client, party, zoe)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert not CheckIn.objects.exists()


def test_a_malformed_request_is_400_json(login, door_staff, party):
    client = login(door_staff)
    for body in ({}, {"client_id": "nope", "attendee": 1}, {"client_id": str(uuid4())}):
        response = post_json(client, door_url("check_in", party), body)
        assert response.status_code == 400
        assert response.json()["outcome"] == "invalid"
    garbage = client.post(door_url("check_in", party), "{", content_type="application/json")
    assert garbage.status_code == 400


def test_the_door_pages_read_with_get_and_write_with_post(login, door_staff, party):
    client = login(door_staff)
    assert client.get(door_url("check_in", party)).status_code == 405
    assert client.post(door_url("guest_list", party)).status_code == 405


def test_no_answer_holds_a_guests_private_link(login, door_staff, party, zoe):
    client = login(door_staff)
    answers = [
        check_in(client, party, zoe).content,
        undo(client, party, zoe).content,
        client.get(door_url("guest_list", party)).content,
        client.get(door_url("guest_search", party), {"q": "zo"}).content,
    ]
    for body in answers:
        assert zoe.manage_token.encode() not in body


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
)
@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_phones_checking_one_guest_in_at_the_same_moment_make_one_check_in(
    owner, make_member, make_party
):
    threads = 8
    skip_without_connections(threads)
    party = make_party(owner.organization)
    guest = signup(party, email="zoe@example.com", first_name="Zoë")
    staff = [make_member(role=Role.DOOR, organization=owner.organization) for _ in range(threads)]
    start = threading.Barrier(threads)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def tap(membership) -> None:
        try:
            start.wait()
            answer = services.checkin_record(
                party=party, membership=membership, client_id=uuid4(), attendee_id=guest.pk
            )
            outcomes.append(answer.outcome)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=tap, args=(member,)) for member in staff]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert sorted(outcomes) == sorted([Outcome.CHECKED_IN] + [Outcome.ALREADY] * (threads - 1))
    assert CheckIn.objects.filter(attendee=guest, undone_at=None).count() == 1
    assert CheckIn.objects.count() == 1


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
)
@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_one_check_in_sent_twice_at_the_same_moment_is_applied_once(owner, make_member, make_party):
    """A phone that resends a check-in whose answer it has not had yet: both requests are
    answered as the one check-in they are."""
    threads = 6
    skip_without_connections(threads)
    party = make_party(owner.organization)
    guest = signup(party, email="zoe@example.com", first_name="Zoë")
    staff = make_member(role=Role.DOOR, organization=owner.organization)
    client_id = uuid4()
    start = threading.Barrier(threads)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            start.wait()
            answer = services.checkin_record(
                party=party, membership=staff, client_id=client_id, attendee_id=guest.pk
            )
            outcomes.append(answer.outcome)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert outcomes == [Outcome.CHECKED_IN] * threads
    assert CheckIn.objects.count() == 1
