"""Finding a guest by a few letters (accents and case ignored, any word's start), and the guest
list a phone keeps for offline: compact, compressed, versioned, read in a constant number of
queries whatever the party's size. (How fast the search answers at 10,000 guests is measured
by the benchmark, `python -m bench --scenario 4`, never asserted here.)"""

from __future__ import annotations

import gzip
import json
from uuid import uuid4

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.door import guests_fill
from door import selectors, services
from parties import services as party_services
from parties.models import Attendee, Place
from parties.search import search_terms, search_words
from privacy import services as privacy_services
from tests.support.door import door_url
from tests.support.signups import signup

GUEST_LIST_LIMIT = 1_000_000  # bytes, compressed, for 10,000 guests


def names(guests: list[dict]) -> list[str]:
    return [f"{guest['first']} {guest['last']}" for guest in guests]


@pytest.fixture
def guests(party):
    signup(party, email="zoe.martin@example.com", first_name="Zoë", last_name="Martin")
    signup(party, email="bo@example.com", first_name="Bo", last_name="Zoellner")
    signup(party, email="ana@example.com", first_name="Ana", last_name="Ørsted")
    signup(party, email="elzo@example.com", first_name="Elzo", last_name="Smith")
    return party


def test_words_are_folded_to_plain_lower_case():
    assert search_words(first_name="Zoë", last_name="Ørsted-Łukasz", email="Zoe.O@Example.com") == (
        " zoe orsted lukasz o example com"
    )
    assert search_terms("  ZOË  mar ") == ["zoe", "mar"]
    assert search_terms("Straße") == ["strasse"]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("zoe", ["Bo Zoellner", "Zoë Martin"]),  # "Zoë" and "Zoellner" both start with it
        ("ZOË", ["Bo Zoellner", "Zoë Martin"]),
        ("zoe mar", ["Zoë Martin"]),  # every word typed must start one of theirs
        ("mart", ["Zoë Martin"]),
        ("orst", ["Ana Ørsted"]),
        ("zoe.martin@ex", ["Zoë Martin"]),  # an address as typed
        ("bo@", ["Bo Zoellner"]),
        ("lzo", []),  # the start of a word, not its middle
        ("", []),
    ],
)
def test_the_search_finds_the_start_of_any_word(guests, query, found):
    assert names(selectors.guests_find(guests, query)) == found


def test_the_search_endpoint_answers_json(login, door_staff, guests):
    response = login(door_staff).get(door_url("guest_search", guests), {"q": "zoe m"})
    assert response.status_code == 200
    (guest,) = response.json()["guests"]
    assert (guest["first"], guest["email"], guest["place"]) == (
        "Zoë",
        "zoe.martin@example.com",
        "r",
    )
    assert guest["in"] is None


def test_the_search_shows_who_checked_them_in(owner, door_staff, guests):
    zoe = Attendee.objects.get(first_name="Zoë")
    services.checkin_record(
        party=guests, membership=door_staff, client_id=uuid4(), attendee_id=zoe.pk
    )
    (guest,) = selectors.guests_find(guests, "zoe m")
    assert guest["by"] == "Ana"
    assert guest["in"] is not None


def test_the_search_reads_a_constant_number_of_queries(door_staff, party):
    def queries_for(count: int) -> int:
        Attendee.objects.filter(party=party).delete()
        for number in range(count):
            attendee = signup(party, email=f"zed{number}@example.com", first_name="Zed")
            if number % 2:
                services.checkin_record(
                    party=party, membership=door_staff, client_id=uuid4(), attendee_id=attendee.pk
                )
        with CaptureQueriesContext(connection) as captured:
            found = selectors.guests_find(party, "zed")
        assert len(found) == min(count, selectors.SEARCH_LIMIT)
        return len(captured)

    assert queries_for(3) == queries_for(30) == 2


def test_the_search_has_at_most_twenty_answers(party, make_attendee):
    for number in range(25):
        make_attendee(party, email=f"g{number}@example.com", first_name="Gus")
    assert len(selectors.guests_find(party, "gus")) == 20


def test_a_new_name_is_found_and_the_old_one_is_not(party):
    zoe = signup(party, email="zoe@example.com", first_name="Zoë", last_name="Martin")
    party_services.attendee_update_details(attendee=zoe, data={"last_name": "Quint"})
    assert names(selectors.guests_find(party, "quint")) == ["Zoë Quint"]
    assert selectors.guests_find(party, "martin") == []
    # A second signup with the same address brings a name they left blank.
    bo = signup(party, email="bo@example.com", first_name="Bo")
    signup(party, email="bo@example.com", first_name="Bo", last_name="Yates")
    bo.refresh_from_db()
    assert names(selectors.guests_find(party, "yat")) == ["Bo Yates"]


def test_an_erased_guest_cannot_be_found(owner, party):
    signup(party, email="zoe@example.com", first_name="Zoë")
    privacy_services.person_erase(
        organization=owner.organization, email="zoe@example.com", actor=owner.user
    )
    erased = Attendee.objects.get()
    assert erased.door_search == ""
    assert selectors.guests_find(party, "zoe") == []
    assert selectors.guests_find(party, "erased") == []
    assert json.loads(selectors.guest_list(party).body)["guests"] == []


def test_the_guest_list_holds_each_guest_compactly(login, door_staff, party):
    zoe = signup(party, email="zoe@example.com", first_name="Zoë", last_name="Martin")
    Attendee.objects.filter(pk=zoe.pk).update(place=Place.WAITLISTED)
    bo = signup(party, email="bo@example.com", first_name="Bo")
    services.checkin_record(
        party=party, membership=door_staff, client_id=uuid4(), attendee_id=bo.pk
    )

    response = login(door_staff).get(door_url("guest_list", party))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    listing = response.json()
    assert listing["fields"] == [
        "id",
        "first",
        "last",
        "email",
        "place",
        "code",
        "in",
        "by",
        "check_in",
    ]
    rows = {row[0]: dict(zip(listing["fields"], row, strict=True)) for row in listing["guests"]}
    assert rows[zoe.pk] == {
        "id": zoe.pk,
        "first": "Zoë",
        "last": "Martin",
        "email": "zoe@example.com",
        "place": "w",
        "code": zoe.checkin_code,
        "in": None,
        "by": "",
        "check_in": None,
    }
    assert rows[bo.pk]["by"] == "Ana"
    assert rows[bo.pk]["in"] <= int(timezone.now().timestamp())
    assert response["ETag"] == f'"{listing["version"]}"'


def test_the_guest_list_is_304_until_something_changes(login, door_staff, party):
    zoe = signup(party, email="zoe@example.com", first_name="Zoë")
    client = login(door_staff)
    etag = client.get(door_url("guest_list", party))["ETag"]

    assert client.get(door_url("guest_list", party), HTTP_IF_NONE_MATCH=etag).status_code == 304
    services.checkin_record(
        party=party, membership=door_staff, client_id=uuid4(), attendee_id=zoe.pk
    )
    changed = client.get(door_url("guest_list", party), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_the_guest_list_is_compressed_and_weakly_tagged(login, door_staff, party, make_attendee):
    for number in range(50):
        make_attendee(party, email=f"guest{number}@example.com")
    client = login(door_staff)

    response = client.get(door_url("guest_list", party), HTTP_ACCEPT_ENCODING="gzip")

    assert response["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(response.content))["guests"]
    etag = response["ETag"]
    assert etag.startswith('W/"')
    again = client.get(
        door_url("guest_list", party), HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=etag
    )
    assert again.status_code == 304


def test_ten_thousand_guests_download_in_under_a_megabyte(login, door_staff, party):
    """Size, not time: the benchmark's guests (names and addresses of a real party's, each
    one's random check-in code), a third of them checked in."""
    guests_fill(party, 10_000, checked_in_by=door_staff.user)
    client = login(door_staff)

    with CaptureQueriesContext(connection) as captured:
        response = client.get(door_url("guest_list", party), HTTP_ACCEPT_ENCODING="gzip")

    assert response["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(response.content))["guests"]) == 10_000
    assert len(response.content) < GUEST_LIST_LIMIT, f"{len(response.content):,} bytes"
    # The session, the membership, the party, then the guests and their check-ins.
    assert len([q for q in captured if "door_checkin" in q["sql"]]) == 1
