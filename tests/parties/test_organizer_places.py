"""The organizer's side of capacity and the waitlist: the party form's capacity, waitlist and
claim window; the party page's places, its waitlist in order with "Register now" and
"Remove", cancelling an attendee's registration after a confirmation; and the CSV's place and
position columns."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from parties import places, selectors, services
from parties.forms import PartyForm
from parties.models import Attendee, Party, PartyEvent, PartyMetric, Place
from tests.support.parties import PARTY_FORM, local_input

pytestmark = pytest.mark.django_db


@pytest.fixture
def party(owner, make_party) -> Party:
    return make_party(owner.organization, name="Howl-o-ween", capacity=2)


@pytest.fixture
def join(make_attendee):
    """A signup placed as the public form places it: a free place, else the waitlist."""

    def make(party: Party, email: str, **fields: object) -> Attendee:
        attendee = make_attendee(party, email=email, **fields)
        party.refresh_from_db()
        places.place_new(attendee, party)
        attendee.refresh_from_db()
        return attendee

    return make


@pytest.fixture
def full(party, join) -> dict[str, Attendee]:
    """Two registered, two waiting (ann first, then bob)."""
    people = {name: join(party, f"{name}@example.com") for name in ("reg1", "reg2", "ann", "bob")}
    return people


def detail_url(party: Party) -> str:
    return reverse("parties:party_detail", args=[party.pk])


def promote_url(attendee: Attendee) -> str:
    return reverse("parties:attendee_promote", args=[attendee.party_id, attendee.pk])


def cancel_url(attendee: Attendee) -> str:
    return reverse("parties:attendee_cancel", args=[attendee.party_id, attendee.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def edit(client: Client, party: Party, **changes: str):
    form = {
        "name": party.name,
        "starts_at": local_input(party.starts_at),
        "address": party.address,
        "city": party.city,
        "state": party.state,
        "capacity": "" if party.capacity is None else str(party.capacity),
        "waitlist_enabled": "on" if party.waitlist_enabled else "",
        "claim_window_hours": party.claim_window_hours or "",
        **changes,
    }
    return client.post(reverse("parties:party_edit", args=[party.pk]), form, follow=True)


def place_of(attendee: Attendee) -> str:
    attendee.refresh_from_db()
    return attendee.place


def events_of(attendee: Attendee, metric: PartyMetric) -> list[PartyEvent]:
    return list(PartyEvent.objects.filter(attendee=attendee, metric=metric))


# --- The form -----------------------------------------------------------------------------------


def form_of(**changes: object) -> PartyForm:
    return PartyForm({**PARTY_FORM, **changes}, default_reminder_hours=[])


@pytest.mark.parametrize(
    ("capacity", "error"),
    [
        ("0", "A party needs room for at least 1 person."),
        ("-3", "A party needs room for at least 1 person."),
        ("100001", "Enter at most 100000 people, or leave it empty for no limit."),
        ("forty", "Enter a whole number of people, like 40, or leave it empty."),
        ("2.5", "Enter a whole number of people, like 40, or leave it empty."),
    ],
)
def test_the_form_refuses_a_capacity_that_is_not_a_number_of_people(capacity, error):
    form = form_of(capacity=capacity)

    assert not form.is_valid()
    assert form.errors["capacity"] == [error]


@pytest.mark.parametrize(
    ("hours", "error"),
    [
        ("0", "Give people at least 1 hour to claim a place."),
        ("169", "Enter at most 168 hours (a week), or leave it empty."),
        ("a day", "Enter a whole number of hours, like 24, or leave it empty."),
    ],
)
def test_the_form_refuses_a_claim_window_outside_an_hour_to_a_week(hours, error):
    form = form_of(claim_window_hours=hours)

    assert not form.is_valid()
    assert form.errors["claim_window_hours"] == [error]


def test_blank_capacity_and_claim_window_mean_no_limit_and_at_once():
    form = form_of(capacity="", claim_window_hours="", waitlist_enabled="on")

    assert form.is_valid(), form.errors
    assert form.party_data["capacity"] is None
    assert form.party_data["claim_window_hours"] is None
    assert form.party_data["waitlist_enabled"] is True


def test_a_new_party_gets_its_capacity_waitlist_and_claim_window(login, owner, make_connection):
    make_connection(owner.organization)
    client = login(owner)

    response = client.post(
        reverse("parties:party_create"),
        {**PARTY_FORM, "capacity": "40", "claim_window_hours": "24"},
    )

    assert response.status_code == 302
    party = Party.objects.get()
    assert (party.capacity, party.seats_taken) == (40, 0)
    assert party.waitlist_enabled is False  # the box was left unticked
    assert party.claim_window_hours == 24


def test_the_new_party_form_starts_with_the_waitlist_ticked(login, owner, make_connection):
    make_connection(owner.organization)

    page = login(owner).get(reverse("parties:party_create"))

    assert page.context["form"]["waitlist_enabled"].value() is True


def test_the_service_saves_the_waitlist_switch_and_the_claim_window(party):
    services.party_update(party=party, data={"waitlist_enabled": False, "claim_window_hours": 12})

    party.refresh_from_db()
    assert (party.waitlist_enabled, party.claim_window_hours) == (False, 12)


# --- Editing the capacity ----------------------------------------------------------------------


def test_a_capacity_below_the_places_held_is_refused_beside_the_field_and_nothing_saved(
    login, owner, party, full
):
    response = edit(login(owner), party, capacity="1", name="Renamed", claim_window_hours="5")

    assert response.status_code == 400
    assert response.context["form"].errors["capacity"] == [
        "2 people hold places: the capacity cannot go below that. Cancel someone's place first."
    ]
    assert response.context["party"].name == "Howl-o-ween"
    party.refresh_from_db()
    assert (party.capacity, party.name, party.claim_window_hours) == (2, "Howl-o-ween", None)


def test_raising_the_capacity_registers_the_first_person_waiting(login, owner, party, full):
    response = edit(login(owner), party, capacity="3")

    assert "1 person moved up from the waitlist and registered." in " ".join(messages_of(response))
    assert place_of(full["ann"]) == Place.REGISTERED
    assert place_of(full["bob"]) == Place.WAITLISTED
    [registered] = events_of(full["ann"], PartyMetric.REGISTERED)
    assert registered.properties["from_waitlist"] is True
    party.refresh_from_db()
    assert (party.capacity, party.seats_taken) == (3, 3)


def test_a_raise_with_a_claim_window_set_in_the_same_save_offers_the_place(
    login, owner, party, full
):
    response = edit(login(owner), party, capacity="3", claim_window_hours="24")

    assert "1 person on the waitlist were offered a place." in " ".join(messages_of(response))
    assert place_of(full["ann"]) == Place.OFFERED
    assert events_of(full["ann"], PartyMetric.OFFERED_SPOT)


def test_removing_the_limit_registers_everyone_waiting(login, owner, party, full):
    edit(login(owner), party, capacity="")

    assert place_of(full["ann"]) == place_of(full["bob"]) == Place.REGISTERED
    party.refresh_from_db()
    assert party.capacity is None


def test_saving_the_form_unchanged_moves_nobody(login, owner, party, full):
    edit(login(owner), party)

    assert place_of(full["ann"]) == Place.WAITLISTED
    assert not events_of(full["ann"], PartyMetric.REGISTERED)


# --- The party page ----------------------------------------------------------------------------


def test_the_page_counts_places_and_says_how_many_are_taken(
    login, owner, party, full, make_attendee
):
    make_attendee(party, email="gone@example.com", place=Place.CANCELLED)

    page = login(owner).get(detail_url(party))

    assert page.context["place_counts"] == {
        Place.REGISTERED: 2,
        Place.WAITLISTED: 2,
        Place.OFFERED: 0,
        Place.CANCELLED: 1,
    }
    places_part = page.text[page.text.index('id="live-places"') :]
    assert "2 of 2</strong> places taken" in places_part
    assert "Full" in places_part


def test_an_unlimited_party_says_no_places_taken_figure(login, owner, make_party, make_attendee):
    unlimited = make_party(owner.organization)
    make_attendee(unlimited)

    page = login(owner).get(detail_url(unlimited))

    assert "places taken" not in page.text
    assert 'id="waitlist"' not in page.text


def test_the_snapshot_counts_places_in_the_same_single_query(party, full, make_attendee):
    make_attendee(party, email="gone@example.com", place=Place.CANCELLED)
    places.waitlist_promote(party)
    Party.objects.filter(pk=party.pk).update(claim_window_hours=2)
    party.refresh_from_db()
    places.attendee_cancel(attendee=full["reg1"], by=places.BY_ORGANIZER)  # ann is offered

    with CaptureQueriesContext(db_connection) as queries:
        snapshot = selectors.party_snapshot(party=party)

    assert len(queries) == 1
    assert snapshot.places == {
        Place.REGISTERED: 1,
        Place.WAITLISTED: 1,
        Place.OFFERED: 1,
        Place.CANCELLED: 2,
    }
    assert snapshot.seats_taken == 2
    assert snapshot.counts["total"] == 5


def test_the_waitlist_shows_offers_then_people_in_order_with_their_position(
    login, owner, party, full, join
):
    cat = join(party, "cat@example.com")
    Party.objects.filter(pk=party.pk).update(claim_window_hours=24)
    party.refresh_from_db()
    places.attendee_cancel(attendee=full["reg1"], by=places.BY_ORGANIZER)  # offered to ann

    page = login(owner).get(detail_url(party))

    entries = page.context["waitlist"]
    assert [(entry.attendee.email, entry.position) for entry in entries] == [
        ("ann@example.com", None),
        ("bob@example.com", 1),
        ("cat@example.com", 2),
    ]
    waitlist = page.text[page.text.index('id="live-waitlist"') :]
    assert "Offered" in waitlist
    assert "until" in waitlist
    assert waitlist.index("bob@example.com") < waitlist.index("cat@example.com")
    # The attendee table says each place, and the position of those waiting.
    table = page.text[page.text.index('id="live-attendees"') :]
    cat_row = table[table.index("cat@example.com") : table.index("</tr>", table.index(cat.email))]
    assert "On the waitlist" in cat_row
    assert "number 2" in cat_row


def test_the_waitlist_positions_follow_the_order_people_joined_not_their_ids(
    party, full, make_attendee
):
    early = make_attendee(
        party,
        email="early@example.com",
        place=Place.WAITLISTED,
        waitlisted_at=timezone.now() - timedelta(days=1),
    )

    rows = selectors.with_waitlist_position(selectors.attendees_for(party=party))
    by_email = {row.email: row.waitlist_position for row in rows}

    assert by_email == {
        "early@example.com": 1,
        "ann@example.com": 2,
        "bob@example.com": 3,
        "reg1@example.com": None,
        "reg2@example.com": None,
    }
    assert early.pk > full["bob"].pk
    assert next(entry.attendee.email for entry in selectors.waitlist_head(party=party)) == (
        "early@example.com"
    )


def test_members_see_the_waitlist_without_its_buttons(login, make_member, party, full):
    member = make_member(role=Role.MEMBER, organization=party.organization)

    page = login(member).get(detail_url(party))

    assert "bob@example.com" in page.text
    assert "Register now" not in page.text
    assert "Cancel registration" not in page.text


def test_the_live_fragment_carries_the_places_and_the_waitlist(login, owner, party, full):
    fragment = login(owner).get(reverse("parties:party_live", args=[party.pk]))

    assert 'id="live-places"' in fragment.text
    assert 'id="live-waitlist"' in fragment.text
    assert "ann@example.com" in fragment.text


def test_a_change_of_capacity_changes_the_live_etag(login, owner, party):
    client = login(owner)
    url = reverse("parties:party_live", args=[party.pk])
    before = client.get(url)["ETag"]
    Party.objects.filter(pk=party.pk).update(capacity=5)

    assert client.get(url, headers={"if-none-match": before}).status_code == 200


# --- Register now ------------------------------------------------------------------------------


def test_register_now_registers_someone_ahead_of_their_turn_when_a_place_is_free(
    login, owner, party, full
):
    Party.objects.filter(pk=party.pk).update(capacity=None)  # room, without promoting anyone

    response = login(owner).post(promote_url(full["bob"]), follow=True)

    assert "bob@example.com is registered" in " ".join(messages_of(response))
    assert place_of(full["bob"]) == Place.REGISTERED
    assert place_of(full["ann"]) == Place.WAITLISTED
    [registered] = events_of(full["bob"], PartyMetric.REGISTERED)
    assert registered.properties["from_waitlist"] is True


def test_register_now_on_a_full_party_says_so_and_moves_nobody(login, owner, party, full):
    response = login(owner).post(promote_url(full["bob"]), follow=True)

    assert response.status_code == 200
    assert (
        "This party is full. Raise its capacity, or cancel someone's place first."
        in messages_of(response)
    )
    assert place_of(full["bob"]) == Place.WAITLISTED
    party.refresh_from_db()
    assert party.seats_taken == 2


def test_register_now_twice_registers_once(login, owner, party, full):
    Party.objects.filter(pk=party.pk).update(capacity=None)
    client = login(owner)

    client.post(promote_url(full["bob"]))
    second = client.post(promote_url(full["bob"]), follow=True)

    assert "bob@example.com is registered already." in messages_of(second)
    assert len(events_of(full["bob"], PartyMetric.REGISTERED)) == 1
    party.refresh_from_db()
    assert party.seats_taken == 3


def test_register_now_of_a_cancelled_attendee_is_refused(login, owner, party, full):
    places.attendee_cancel(attendee=full["bob"], by=places.BY_ORGANIZER)

    response = login(owner).post(promote_url(full["bob"]), follow=True)

    assert "Only someone on the waitlist can be registered from it." in messages_of(response)
    assert place_of(full["bob"]) == Place.CANCELLED


# --- Remove and cancel -------------------------------------------------------------------------


def test_remove_takes_someone_off_the_waitlist_at_once(login, owner, party, full):
    response = login(owner).post(cancel_url(full["ann"]), {"from": "waitlist"})

    assert response.status_code == 302
    assert response["Location"].endswith("#waitlist")
    assert place_of(full["ann"]) == Place.CANCELLED
    full["ann"].refresh_from_db()
    assert full["ann"].cancelled_by == "organizer"
    assert place_of(full["bob"]) == Place.WAITLISTED  # no place was freed
    assert places.waitlist_position(full["bob"]) == 1


def test_cancel_asks_first_and_changes_nothing_until_confirmed(login, owner, party, full):
    page = login(owner).get(cancel_url(full["reg1"]))

    assert page.status_code == 200
    assert "Cancel the registration of reg1@example.com?" in page.text
    assert "the first person on the waitlist moves up" in page.text
    assert place_of(full["reg1"]) == Place.REGISTERED
    assert not events_of(full["reg1"], PartyMetric.REGISTRATION_CANCELLED)


def test_confirming_cancels_and_the_first_person_waiting_is_registered(login, owner, party, full):
    response = login(owner).post(cancel_url(full["reg1"]), follow=True)

    assert "Cancelled reg1@example.com's registration" in " ".join(messages_of(response))
    assert place_of(full["reg1"]) == Place.CANCELLED
    [cancelled] = events_of(full["reg1"], PartyMetric.REGISTRATION_CANCELLED)
    assert cancelled.properties["cancelled_by"] == "organizer"
    assert place_of(full["ann"]) == Place.REGISTERED
    assert place_of(full["bob"]) == Place.WAITLISTED
    party.refresh_from_db()
    assert party.seats_taken == 2


def test_a_double_click_on_cancel_cancels_once(login, owner, party, full):
    client = login(owner)

    client.post(cancel_url(full["reg1"]))
    second = client.post(cancel_url(full["reg1"]), follow=True)

    assert "reg1@example.com's registration was already cancelled." in messages_of(second)
    assert len(events_of(full["reg1"], PartyMetric.REGISTRATION_CANCELLED)) == 1
    # One place freed, one person promoted: bob still waits.
    assert place_of(full["ann"]) == Place.REGISTERED
    assert place_of(full["bob"]) == Place.WAITLISTED
    party.refresh_from_db()
    assert party.seats_taken == 2


def test_the_confirmation_of_a_cancelled_registration_says_so(login, owner, party, full):
    places.attendee_cancel(attendee=full["reg1"], by=places.BY_ATTENDEE)

    response = login(owner).get(cancel_url(full["reg1"]), follow=True)

    assert "reg1@example.com's registration was already cancelled." in messages_of(response)
    assert "Cancel registration" not in response.text.split(full["reg1"].email, 1)[1][:2000]


# --- Tenancy, permissions, CSRF ---------------------------------------------------------------

ACTIONS = [("POST", "attendee_promote"), ("GET", "attendee_cancel"), ("POST", "attendee_cancel")]


@pytest.mark.parametrize(("method", "name"), ACTIONS)
def test_another_organizations_attendee_is_a_404(
    login, owner, make_party, make_attendee, method, name
):
    foreign = make_party(name="Their party", capacity=1)
    attendee = make_attendee(foreign, place=Place.WAITLISTED, waitlisted_at=timezone.now())
    url = reverse(f"parties:{name}", args=[foreign.pk, attendee.pk])

    response = getattr(login(owner), method.lower())(url)

    assert response.status_code == 404
    assert place_of(attendee) == Place.WAITLISTED


@pytest.mark.parametrize(("method", "name"), ACTIONS)
def test_an_attendee_of_another_of_ones_parties_is_a_404(
    login, owner, party, make_party, make_attendee, method, name
):
    other = make_party(owner.organization)
    attendee = make_attendee(other, place=Place.WAITLISTED, waitlisted_at=timezone.now())
    url = reverse(f"parties:{name}", args=[party.pk, attendee.pk])

    response = getattr(login(owner), method.lower())(url)

    assert response.status_code == 404
    assert place_of(attendee) == Place.WAITLISTED


@pytest.mark.parametrize(("method", "name"), ACTIONS)
def test_members_may_not_promote_or_cancel(login, make_member, party, full, method, name):
    member = make_member(role=Role.MEMBER, organization=party.organization)
    url = reverse(f"parties:{name}", args=[party.pk, full["ann"].pk])

    response = getattr(login(member), method.lower())(url)

    assert response.status_code == 403
    assert place_of(full["ann"]) == Place.WAITLISTED


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admins_and_owners_may_cancel(login, make_member, party, full, role):
    manager = make_member(role=role, organization=party.organization)

    login(manager).post(cancel_url(full["ann"]))

    assert place_of(full["ann"]) == Place.CANCELLED


@pytest.mark.parametrize("name", ["attendee_promote", "attendee_cancel"])
def test_the_actions_need_the_csrf_token(login, owner, party, full, name):
    Party.objects.filter(pk=party.pk).update(capacity=None)
    client = login(owner, Client(enforce_csrf_checks=True))

    response = client.post(reverse(f"parties:{name}", args=[party.pk, full["ann"].pk]))

    assert response.status_code == 403
    assert place_of(full["ann"]) == Place.WAITLISTED


def test_register_now_refuses_get(login, owner, party, full):
    response = login(owner).get(promote_url(full["ann"]))

    assert response.status_code == 405


# --- The CSV -----------------------------------------------------------------------------------


def test_the_csv_has_each_attendees_place_and_waitlist_position(login, owner, party, full, join):
    join(party, "cat@example.com")
    places.attendee_cancel(attendee=full["ann"], by=places.BY_ORGANIZER)

    response = login(owner).get(reverse("parties:attendees_csv", args=[party.pk]))

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header = rows[0]
    place = header.index("place")
    assert header[place : place + 2] == ["place", "waitlist_position"]
    by_email = {row[0]: row[place : place + 2] for row in rows[1:]}
    assert by_email == {
        "reg1@example.com": ["Registered", ""],
        "reg2@example.com": ["Registered", ""],
        "ann@example.com": ["Cancelled", ""],
        "bob@example.com": ["On the waitlist", "1"],
        "cat@example.com": ["On the waitlist", "2"],
    }
