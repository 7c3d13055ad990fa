"""Access: an organizer downloads everything Partyline holds about an address in one ZIP
(JSON and CSV), and an attendee downloads or erases their own registration from their page."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from parties.models import Attendee, PartyEvent
from privacy.models import PrivacyRecord, RequestKind
from tests.support.signups import signup

pytestmark = pytest.mark.django_db

PERSON = "zoe@example.com"


def unzip(response) -> dict[str, str]:
    assert response["Content-Type"] == "application/zip"
    assert "no-store" in response["Cache-Control"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return {name: archive.read(name).decode("utf-8-sig") for name in archive.namelist()}


def test_the_export_holds_every_registration_answer_consent_and_event(login, owner, make_party):
    howl = make_party(owner.organization, name="Howl-o-ween")
    bark = make_party(owner.organization, name="Bark in the Park")
    signup(howl, PERSON, pet_name="Rex", pet_type="dog")
    signup(bark, PERSON, marketing_consent=False)
    signup(howl, "someone.else@example.com")

    response = login(owner).post(reverse("privacy:person_export"), {"email": "ZOE@example.com"})

    files = unzip(response)
    data = json.loads(files["personal-data.json"])
    registrations = {r["party"]: r for r in data["registrations"]}
    assert set(registrations) == {"Howl-o-ween", "Bark in the Park"}
    howl_record = registrations["Howl-o-ween"]
    assert howl_record["answers"] == [
        {"question": "Pet's name", "key": "pet_name", "answer": "Rex"},
        {"question": "Pet type", "key": "pet_type", "answer": "dog"},
    ]
    assert howl_record["consent"]["marketing_consent"] is True
    assert howl_record["consent"]["wording_version"] == 1
    assert howl_record["consent"]["wording"].startswith("Yes, ")
    assert howl_record["consent"]["where"] == "Public signup page"
    assert registrations["Bark in the Park"]["consent"]["marketing_consent"] is False
    events = PartyEvent.objects.filter(email=PERSON).count()
    assert sum(len(r["events"]) for r in data["registrations"]) == events > 0
    assert "someone.else" not in "".join(files.values())
    rows = list(csv.DictReader(io.StringIO(files["registrations.csv"])))
    assert {row["party"] for row in rows} == {"Howl-o-ween", "Bark in the Park"}
    assert len(list(csv.DictReader(io.StringIO(files["events.csv"])))) == events
    record = PrivacyRecord.objects.get()
    assert (record.kind, record.records, record.actor) == (RequestKind.EXPORT, 2, owner.user)


def test_the_export_says_where_each_signup_came_from(login, owner, make_party):
    howl = make_party(owner.organization, name="Howl-o-ween")
    bark = make_party(owner.organization, name="Bark in the Park")
    signup(
        howl,
        PERSON,
        utm_source="newsletter",
        utm_medium="email",
        utm_campaign="halloween",
        referrer_host="www.dog-forum.example",
    )
    signup(bark, PERSON)

    response = login(owner).post(reverse("privacy:person_export"), {"email": PERSON})

    files = unzip(response)
    data = json.loads(files["personal-data.json"])
    registrations = {r["party"]: r for r in data["registrations"]}
    assert registrations["Howl-o-ween"]["attribution"] == {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "halloween",
        "referrer_host": "www.dog-forum.example",
    }
    assert set(registrations["Bark in the Park"]["attribution"].values()) == {""}
    rows = {row["party"]: row for row in csv.DictReader(io.StringIO(files["registrations.csv"]))}
    howl_row = rows["Howl-o-ween"]
    assert [howl_row[name] for name in ("utm_source", "utm_medium", "utm_campaign")] == [
        "newsletter",
        "email",
        "halloween",
    ]
    assert howl_row["referrer_host"] == "www.dog-forum.example"
    assert rows["Bark in the Park"]["utm_source"] == ""


def test_an_attendee_downloads_their_own_registration_only(make_party, owner):
    party = make_party(owner.organization)
    other = make_party(owner.organization, name="Another party")
    mine = signup(party, PERSON)
    signup(other, PERSON)  # the same address elsewhere: not theirs to reach with this link

    response = Client().post(reverse("privacy:attendee_export", args=[mine.manage_token]))

    data = json.loads(unzip(response)["personal-data.json"])
    assert [r["party"] for r in data["registrations"]] == [party.name]
    assert PrivacyRecord.objects.get().kind == RequestKind.SELF_EXPORT


def test_an_attendee_erases_their_registration_after_a_confirmation(make_party, owner):
    party = make_party(owner.organization)
    mine = signup(party, PERSON, last_name="Selferased")
    client = Client(enforce_csrf_checks=False)
    link = mine.manage_token
    url = reverse("privacy:attendee_erase", args=[link])

    asked = client.get(url)
    done = client.post(url)

    assert "to delete" in asked.text  # their Klaviyo profile is the organizer's to delete
    assert done.status_code == 200
    assert "Your registration is erased" in done.text
    mine.refresh_from_db()
    assert mine.erased_at is not None
    assert mine.last_name == ""
    # Their link is dead: the page and its actions are gone.
    assert client.get(reverse("parties:attendee_manage", args=[link])).status_code == 404
    assert Client().get(url).status_code == 404
    assert PrivacyRecord.objects.get().kind == RequestKind.SELF_ERASURE


def test_the_attendees_actions_need_csrf(make_party, owner):
    mine = signup(make_party(owner.organization), PERSON)
    strict = Client(enforce_csrf_checks=True)

    assert (
        strict.post(reverse("privacy:attendee_erase", args=[mine.manage_token])).status_code == 403
    )
    assert (
        strict.post(reverse("privacy:attendee_export", args=[mine.manage_token])).status_code == 403
    )
    assert Attendee.objects.get().erased_at is None


def test_the_attendee_page_offers_both(make_party, owner):
    mine = signup(make_party(owner.organization), PERSON)

    page = Client().get(reverse("parties:attendee_manage", args=[mine.manage_token])).text

    assert "Download my data" in page
    assert "Erase my registration" in page
