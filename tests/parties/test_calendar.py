"""The party's calendar files and Google link: read back as a calendar app reads them, its
times in the organization's zone, one UID per entry for good, and a SEQUENCE that rises
whenever the time or the place changes, or the party is cancelled."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.urls import resolve, reverse
from icalendar import Calendar, Event

from parties import calendar, links, services
from parties.errors import PartyError
from parties.models import Attendee, Party

pytestmark = pytest.mark.django_db

DENVER = ZoneInfo("America/Denver")
# Summer: Denver keeps daylight time (UTC-6) then.
STARTS_AT = datetime(2031, 7, 4, 18, 30, tzinfo=DENVER)


@pytest.fixture
def party(make_party, make_org) -> Party:
    organization = make_org("Acme Pets")
    organization.time_zone = "America/Denver"
    organization.save(update_fields=["time_zone"])
    return make_party(
        organization,
        name="Howl-o-ween",
        starts_at=STARTS_AT,
        address="1 Bark Street",
        address2="",
        city="Denver",
        state="CO",
        description="Costumes encouraged.",
    )


@pytest.fixture
def attendee(party, make_attendee) -> Attendee:
    return make_attendee(party)


def read(content: bytes) -> tuple[Calendar, Event]:
    parsed = Calendar.from_ical(content)
    assert isinstance(parsed, Calendar)
    [event] = parsed.events
    return parsed, event


def party_event(party: Party) -> Event:
    return read(calendar.party_calendar(party))[1]


def fresh(party: Party) -> Party:
    return Party.objects.select_related("organization").get(pk=party.pk)


def test_the_file_is_one_published_event_with_its_time_zone(party):
    parsed, _ = read(calendar.party_calendar(party))

    assert parsed["PRODID"] == "-//Partyline//Partyline//EN"
    assert parsed["VERSION"] == "2.0"
    assert parsed["METHOD"] == "PUBLISH"
    assert [zone.tz_name for zone in parsed.timezones] == ["America/Denver"]
    assert parsed.get_missing_tzids() == set()


def test_start_and_end_are_the_party_s_times_in_the_organization_s_zone(party):
    event = party_event(party)

    assert event.start == STARTS_AT
    assert event.start.tzinfo.key == "America/Denver"
    # No end set: the party's default length.
    assert event.end == party.ends_at_or_default == STARTS_AT + timedelta(hours=3)
    assert event.end.tzinfo.key == "America/Denver"


def test_an_end_time_set_by_the_organizer_is_the_event_s_end(party):
    party.ends_at = STARTS_AT + timedelta(hours=5)

    assert party_event(party).end == STARTS_AT + timedelta(hours=5)


def test_the_uid_never_changes_and_differs_between_the_public_and_an_attendee_file(
    party, attendee, make_attendee
):
    public = party_event(party).uid
    own = read(calendar.attendee_calendar(attendee))[1].uid
    other = read(calendar.attendee_calendar(make_attendee(party)))[1].uid

    assert party_event(party).uid == public == f"party-{party.pk}@127.0.0.1"
    assert read(calendar.attendee_calendar(attendee))[1].uid == own
    assert len({public, own, other}) == 3
    # The manage token is the key to the attendee's page: never in a UID that travels.
    assert attendee.manage_token not in own


def test_sequence_rises_with_each_new_time_or_place_and_only_then(party):
    assert party_event(party).sequence == 0

    services.party_update(party=party, data={"starts_at": STARTS_AT + timedelta(hours=1)})
    assert party.details_version == 1
    assert party_event(fresh(party)).sequence == 1

    services.party_update(party=party, data={"address": "2 Woof Avenue"})
    assert party_event(fresh(party)).sequence == 2

    services.party_update(party=party, data={"name": "Howl-o-ween 2"})
    services.party_update(party=party, data={"description": "Bring treats."})
    assert party.details_version == 2
    assert party_event(fresh(party)).sequence == 2


def test_saving_the_same_time_and_place_again_leaves_the_version_alone(party):
    # The edit form sends every field: unchanged ones are no new details.
    services.party_update(
        party=party,
        data={"starts_at": STARTS_AT, "address": "1 Bark Street", "city": "Denver"},
    )

    assert party.details_version == 0
    assert fresh(party).details_version == 0


def test_a_refused_update_leaves_the_version_as_it_was(party):
    Party.objects.filter(pk=party.pk).update(capacity=2)
    party.refresh_from_db()
    for number in range(2):
        data = {"email": f"guest{number}@example.com", "first_name": "Sam"}
        services.attendee_register(party=party, data=data)
    party.refresh_from_db()

    with pytest.raises(PartyError):
        services.party_update(
            party=party, data={"starts_at": STARTS_AT + timedelta(hours=1), "capacity": 1}
        )

    assert party.details_version == 0
    assert fresh(party).details_version == 0


def test_a_cancelled_party_s_entry_is_cancelled_with_a_higher_sequence(party):
    services.party_update(party=party, data={"city": "Boulder"})

    assert services.party_cancel(party=party)

    assert party.details_version == 2
    event = party_event(fresh(party))
    assert event.status == "CANCELLED"
    assert event.sequence == 2


def test_cancelling_again_raises_the_sequence_no_further(party):
    services.party_cancel(party=party)

    assert not services.party_cancel(party=party)

    assert fresh(party).details_version == 1


def test_a_live_party_s_entry_is_confirmed(party):
    assert party_event(party).status == "CONFIRMED"


def test_location_joins_the_place_skipping_blank_lines_and_url_is_the_signup_page(party):
    event = party_event(party)

    assert event.location == "1 Bark Street, Denver, CO"
    assert event.url == f"http://127.0.0.1:8000{reverse('parties:signup', args=[party.slug])}"

    party.address2 = "Back garden"
    assert party_event(party).location == "1 Bark Street, Back garden, Denver, CO"


def test_text_with_commas_semicolons_and_new_lines_survives_a_round_trip(party):
    party.name = "Howl, growl; bark"
    party.description = "Costumes, please;\nTreats: yes.\n\nA very long line " + "woof " * 40
    party.address2 = "Gate B; ring twice, then wait"

    event = party_event(party)

    assert event.summary == party.name
    assert event.description == party.description
    assert event.location == "1 Bark Street, Gate B; ring twice, then wait, Denver, CO"


def test_the_attendee_file_ends_with_the_link_to_their_page(party, attendee):
    event = read(calendar.attendee_calendar(attendee))[1]

    manage_url = links.manage_url(attendee)
    assert manage_url.endswith(f"/a/{attendee.manage_token}/")
    assert event.description == (
        f"Costumes encouraged.\n\nChange or cancel your registration: {manage_url}"
    )
    assert event.start == STARTS_AT
    assert event.sequence == party.details_version


def test_without_a_description_the_attendee_file_holds_only_the_link(party, attendee):
    attendee.party.description = ""

    event = read(calendar.attendee_calendar(attendee))[1]

    manage_url = links.manage_url(attendee)
    assert event.description == f"Change or cancel your registration: {manage_url}"


def test_the_google_link_gives_utc_times_and_the_party_s_zone(party):
    party.name = "Howl, growl & bark"
    url = calendar.google_calendar_url(party)

    assert url.startswith("https://calendar.google.com/calendar/render?")
    query = parse_qs(urlsplit(url).query)
    assert query["action"] == ["TEMPLATE"]
    assert query["text"] == ["Howl, growl & bark"]
    # 18:30 MDT is 00:30 UTC the next day.
    assert query["dates"] == ["20310705T003000Z/20310705T033000Z"]
    assert query["ctz"] == ["America/Denver"]
    assert query["location"] == ["1 Bark Street, Denver, CO"]
    # Google's new-event page has no URL field: the signup page ends the details.
    page_url = f"http://127.0.0.1:8000/p/{party.slug}/"
    assert query["details"] == [f"Costumes encouraged.\n\n{page_url}"]
    assert " " not in url
    assert "+" not in url


def test_the_calendar_urls_are_absolute_and_reach_the_views(party, attendee):
    public = links.party_calendar_url(party)
    own = links.attendee_calendar_url(attendee)

    assert public == f"http://127.0.0.1:8000/p/{party.slug}/calendar.ics"
    assert own == f"http://127.0.0.1:8000/a/{attendee.manage_token}/calendar.ics"
    assert resolve(urlsplit(public).path).url_name == "party_calendar"
    assert resolve(urlsplit(own).path).url_name == "attendee_calendar"


def test_the_public_file_is_served_as_a_calendar_download(client, party):
    response = client.get(reverse("parties:party_calendar", args=[party.slug]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{party.slug}.ics"'
    assert read(response.content)[1].uid == f"party-{party.pk}@127.0.0.1"


def test_a_cancelled_party_s_public_file_says_so(client, party):
    services.party_cancel(party=party)

    response = client.get(reverse("parties:party_calendar", args=[party.slug]))

    assert read(response.content)[1].status == "CANCELLED"


def test_an_unknown_party_has_no_file(client):
    assert client.get(reverse("parties:party_calendar", args=["nope"])).status_code == 404


def test_the_files_answer_only_get(client, party, attendee):
    public = reverse("parties:party_calendar", args=[party.slug])
    own = reverse("parties:attendee_calendar", args=[attendee.manage_token])

    assert client.post(public).status_code == 405
    assert client.post(own).status_code == 405


def test_an_unknown_token_has_no_file(client):
    response = client.get(reverse("parties:attendee_calendar", args=["not-a-token"]))

    assert response.status_code == 404


def test_the_attendee_file_is_private_and_links_to_their_page(client, attendee):
    response = client.get(reverse("parties:attendee_calendar", args=[attendee.manage_token]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert {"private", "no-store"} <= set(response["Cache-Control"].replace(" ", "").split(","))
    manage_path = reverse("parties:attendee_manage", args=[attendee.manage_token])
    assert read(response.content)[1].description.endswith(f"http://127.0.0.1:8000{manage_path}")
