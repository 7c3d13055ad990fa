"""Who came, where organizers read it: the party page (its live parts too), the CSV, a
person's data export; and an erased guest's check-ins hold nothing of them."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from uuid import uuid4

from django.urls import reverse
from django.utils import timezone

from door import services
from door.models import CheckIn
from parties.models import Attendee
from privacy import services as privacy_services
from tests.support.signups import signup


def tap(party, membership, attendee) -> CheckIn:
    answer = services.checkin_record(
        party=party, membership=membership, client_id=uuid4(), attendee_id=attendee.pk
    )
    assert answer.check_in is not None
    return answer.check_in


def at_19_04(check_in: CheckIn) -> None:
    local = timezone.localtime(check_in.checked_in_at).replace(hour=19, minute=4)
    CheckIn.objects.filter(pk=check_in.pk).update(checked_in_at=local)


def test_the_party_page_shows_attendance_once_someone_is_checked_in(
    login, owner, door_staff, party
):
    zoe = signup(party, email="zoe@example.com", first_name="Zoë")
    client = login(owner)
    page = client.get(reverse("parties:party_detail", args=[party.pk])).content.decode()
    assert 'id="attendance"' not in page  # the party is a week away and nobody came yet

    at_19_04(tap(party, door_staff, zoe))
    page = client.get(reverse("parties:party_detail", args=[party.pk])).content.decode()

    assert 'id="attendance"' in page
    assert "<dt>Checked in</dt><dd>1</dd>" in page
    assert "<dt>Walk-ins</dt><dd>0</dd>" in page
    assert "No-shows</dt>" not in page  # not over yet
    assert "Checked in 19:04" in page


def test_after_the_party_the_no_shows_are_counted(login, owner, door_staff, make_party):
    party = make_party(
        owner.organization,
        starts_at=timezone.now() - timedelta(hours=5),
        ends_at=timezone.now() - timedelta(hours=1),
    )
    came = signup(party, email="came@example.com")
    signup(party, email="home1@example.com")
    signup(party, email="home2@example.com")
    tap(party, door_staff, came)

    page = login(owner).get(reverse("parties:party_detail", args=[party.pk])).content.decode()

    assert "<dt>Checked in</dt><dd>1</dd>" in page
    assert "<dt>No-shows</dt><dd>2</dd>" in page


def test_the_live_party_page_follows_check_ins_and_undos(login, owner, door_staff, party):
    zoe = signup(party, email="zoe@example.com")
    client = login(owner)
    live = reverse("parties:party_live", args=[party.pk])
    etag = client.get(live)["ETag"]

    tap(party, door_staff, zoe)
    after_check_in = client.get(live, HTTP_IF_NONE_MATCH=etag)
    assert after_check_in.status_code == 200
    assert "Checked in" in after_check_in.content.decode()

    services.checkin_undo(party=party, membership=door_staff, client_id=uuid4(), attendee_id=zoe.pk)
    after_undo = client.get(live, HTTP_IF_NONE_MATCH=after_check_in["ETag"])
    assert after_undo.status_code == 200


def test_the_csv_says_when_each_guest_came_in(login, owner, door_staff, party):
    zoe = signup(party, email="zoe@example.com")
    signup(party, email="bo@example.com")
    check_in = tap(party, door_staff, zoe)

    response = login(owner).get(reverse("parties:attendees_csv", args=[party.pk]))

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header = rows[0]
    assert header[-2:] == ["checked_in_at", "walk_in"]
    by_email = {row[0]: row for row in rows[1:]}
    came_in = timezone.localtime(check_in.checked_in_at).replace(microsecond=0).isoformat()
    assert by_email["zoe@example.com"][-2:] == [came_in, "no"]
    assert by_email["bo@example.com"][-2:] == ["", "no"]


def test_a_persons_export_lists_their_check_ins(login, owner, door_staff, party):
    zoe = signup(party, email="zoe@example.com")
    first = tap(party, door_staff, zoe)
    services.checkin_undo(party=party, membership=door_staff, client_id=uuid4(), attendee_id=zoe.pk)
    tap(party, door_staff, zoe)

    data = privacy_services.person_data(attendees=Attendee.objects.filter(pk=zoe.pk))

    (registration,) = data["registrations"]
    check_ins = registration["check_ins"]
    assert len(check_ins) == 2
    assert check_ins[0]["checked_in_at"] == first.checked_in_at.isoformat()
    assert check_ins[0]["undone_at"] is not None
    assert check_ins[1] == {
        "checked_in_at": check_ins[1]["checked_in_at"],
        "walk_in": False,
        "undone_at": None,
    }


def test_erasing_a_guest_keeps_their_check_ins_with_nothing_of_theirs(
    login, owner, door_staff, party
):
    zoe = signup(party, email="zoe@example.com", first_name="Zoë", last_name="Martin")
    tap(party, door_staff, zoe)
    secrets = ["zoe@example.com", "Zoë", "Martin", zoe.checkin_code, zoe.manage_token]

    privacy_services.person_erase(
        organization=owner.organization, email="zoe@example.com", actor=owner.user
    )

    check_in = CheckIn.objects.get()  # the count of who came stays true
    stored = json.dumps(
        {field.attname: str(getattr(check_in, field.attname)) for field in CheckIn._meta.fields}
    )
    erased = Attendee.objects.get(pk=zoe.pk)
    held = json.dumps(
        {field.attname: str(getattr(erased, field.attname)) for field in Attendee._meta.fields}
    )
    for secret in secrets:
        assert secret not in stored
        assert secret not in held
    # Nor do the door's answers name them.
    client = login(door_staff)
    listing = client.get(reverse("door:guest_list", args=[party.pk])).content.decode()
    assert "zoe" not in listing.lower()


def test_the_export_archive_holds_the_check_ins(login, owner, door_staff, party):
    zoe = signup(party, email="zoe@example.com")
    tap(party, door_staff, zoe)
    response = login(owner).post(reverse("privacy:person_export"), {"email": "zoe@example.com"})
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        data = json.loads(archive.read("personal-data.json"))
    assert len(data["registrations"][0]["check_ins"]) == 1
