"""Party times in the organization's time zone: entered, stored as the instant, and shown
on the organizer's pages, the public signup page and the CSV export in that zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.models import Organization
from parties.models import Party
from tests.support.downloads import read_csv
from tests.support.parties import PARTY_FORM

pytestmark = pytest.mark.django_db

# 19:00 on a winter evening in Denver (MST, UTC-7) is 02:00 UTC the next day.
DENVER_EVENING = "2030-01-15T19:00"
SAME_INSTANT_UTC = datetime(2030, 1, 16, 2, 0, tzinfo=UTC)


@pytest.fixture
def denver_owner(owner):
    Organization.objects.filter(pk=owner.organization_id).update(time_zone="America/Denver")
    owner.organization.refresh_from_db()
    return owner


def test_a_denver_organizer_creating_a_19_00_party_stores_02_00_utc_and_sees_19_00(
    login, denver_owner, make_connection
):
    make_connection(denver_owner.organization)
    client = login(denver_owner)

    form = client.get(reverse("parties:party_create"))
    assert "In your organization's time zone, America/Denver." in form.text
    response = client.post(
        reverse("parties:party_create"), {**PARTY_FORM, "starts_at": DENVER_EVENING}
    )

    party = Party.objects.get()
    assert response.status_code == 302
    assert party.starts_at == SAME_INSTANT_UTC
    # (whatever the pages' date formats: the day and hour are Denver's)
    detail = client.get(reverse("parties:party_detail", args=[party.pk])).text
    assert "15 January 2030" in detail
    assert "19:00" in detail
    assert "02:00" not in detail
    listing = client.get(reverse("parties:party_list")).text
    assert "15 Jan 2030" in listing
    assert "19:00" in listing
    edit = client.get(reverse("parties:party_edit", args=[party.pk]))
    assert 'value="2030-01-15T19:00"' in edit.text


def test_editing_keeps_the_organizations_zone(login, denver_owner, make_party):
    party = make_party(denver_owner.organization)
    data = {key: value for key, value in PARTY_FORM.items() if key != "opt_in_process"}

    login(denver_owner).post(
        reverse("parties:party_edit", args=[party.pk]), {**data, "starts_at": DENVER_EVENING}
    )

    party.refresh_from_db()
    assert party.starts_at == SAME_INSTANT_UTC


def test_the_same_party_reads_in_utc_for_an_organization_in_utc(login, owner, make_party):
    party = make_party(owner.organization, starts_at=SAME_INSTANT_UTC)

    detail = login(owner).get(reverse("parties:party_detail", args=[party.pk])).text

    assert "16 January 2030" in detail
    assert "02:00" in detail


def test_the_public_page_shows_the_party_in_its_organizations_zone(client, make_party, make_org):
    organization = make_org("Mile High Pets")
    Organization.objects.filter(pk=organization.pk).update(time_zone="America/Denver")
    party = make_party(organization, starts_at=SAME_INSTANT_UTC)

    page = client.get(reverse("parties:signup", args=[party.slug]))

    assert "Tuesday 15 January 2030, 19:00 MST" in page.text
    assert 'datetime="2030-01-15T19:00:00-07:00"' in page.text


def test_the_thanks_page_shows_the_party_in_its_organizations_zone(client, make_party, make_org):
    organization = make_org()
    Organization.objects.filter(pk=organization.pk).update(time_zone="Europe/Paris")
    party = make_party(organization, starts_at=SAME_INSTANT_UTC)

    page = client.get(reverse("parties:signup_thanks", args=[party.slug]))

    assert "Wednesday 16 January 2030, 03:00 CET" in page.text


def test_the_csv_export_times_are_in_the_organizations_zone(
    login, denver_owner, make_party, make_attendee
):
    party = make_party(denver_owner.organization)
    make_attendee(party, email="zoe@example.com", consented_at=SAME_INSTANT_UTC)

    rows = read_csv(login(denver_owner).get(reverse("parties:attendees_csv", args=[party.pk])))

    consented_at = rows[0].index("consented_at")
    assert rows[1][consented_at] == "2030-01-15T19:00:00-07:00"
