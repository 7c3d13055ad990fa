"""The organization words its marketing consent itself; every wording its forms showed is kept
as a version, and each attendee's record points at the one they saw."""

from __future__ import annotations

import pytest
from django.db.models import ProtectedError
from django.urls import reverse

from parties import services
from parties.models import Attendee, ConsentWording, Party
from tests.support.signups import post_signup, signup_url

pytestmark = pytest.mark.django_db
SETTINGS = reverse("accounts:organization_settings")


@pytest.fixture
def party(owner, make_party) -> Party:
    owner.organization.name = "Acme Pets Shop"
    owner.organization.save()
    return make_party(owner.organization, name="Howl-o-ween")


def settings_form(**changes: str) -> dict[str, str]:
    return {"name": "Acme Pets Shop", "time_zone": "UTC", "reminder_hours": "24, 2", **changes}


def test_an_owner_rewords_the_consent_and_the_form_shows_it_as_a_new_version(
    client, login, owner, party
):
    first = client.get(signup_url(party)).context["form"].wording
    post_signup(client, party, email="early@example.com", consent_wording=str(first.pk))

    login(owner).post(SETTINGS, settings_form(marketing_consent_text="  Monthly dog news?  "))
    page = client.get(signup_url(party))
    post_signup(
        client,
        party,
        email="late@example.com",
        consent_wording=str(page.context["form"].wording.pk),
    )

    assert "Monthly dog news?" in page.text
    early = Attendee.objects.get(email="early@example.com").consent_wording
    late = Attendee.objects.get(email="late@example.com").consent_wording
    assert (early.version, late.version) == (1, 2)
    assert late.marketing == "Monthly dog news?"
    assert early.marketing.startswith("Yes, Acme Pets Shop may also email me")


def test_an_unchanged_wording_makes_no_new_version(client, party):
    for _ in range(3):
        client.get(signup_url(party))

    assert ConsentWording.objects.count() == 1


def test_emptied_it_goes_back_to_partylines_words_as_another_version(owner):
    organization = owner.organization
    organization.marketing_consent_text = "Dog news?"
    organization.save()
    custom = services.consent_wording_current(organization=organization, language="en")
    organization.marketing_consent_text = ""
    organization.save()

    back = services.consent_wording_current(organization=organization, language="en")

    assert (custom.version, back.version) == (1, 2)
    assert back.marketing.startswith(f"Yes, {organization.name} may also email me")


def test_a_wording_attendees_agreed_to_cannot_be_deleted(client, party):
    post_signup(client, party)
    wording = Attendee.objects.get().consent_wording

    with pytest.raises(ProtectedError):
        wording.delete()
