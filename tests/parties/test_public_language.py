"""A party's public pages in the party's language (English or German), the organizer's pages
in English, and nothing a request activates outliving it. A public address that finds no
party answers in the browser's language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse
from icalendar import Calendar

from parties import services
from parties.models import Attendee, ConsentWording, Party
from tests.support.parties import PARTY_FORM, local_input
from tests.support.signups import post_signup, signup, signup_url

pytestmark = pytest.mark.django_db

# Saturday 15 March 2031, 18:30 in Berlin (CET: summer time starts at the end of the month).
STARTS_AT = datetime(2031, 3, 15, 17, 30, tzinfo=UTC)
GERMAN_START = "Samstag, 15. März 2031, 18:30 CET"


@pytest.fixture
def organization(owner):
    organization = owner.organization
    organization.name = "Acme Pets Shop"
    organization.time_zone = "Europe/Berlin"
    organization.save()
    return organization


@pytest.fixture
def german_party(organization, make_party) -> Party:
    return make_party(organization, name="Hundeparty", starts_at=STARTS_AT, language="de")


@pytest.fixture
def english_party(organization, make_party) -> Party:
    return make_party(organization, name="Howl-o-ween", starts_at=STARTS_AT)


def manage_url(attendee: Attendee, name: str = "attendee_manage") -> str:
    return reverse(f"parties:{name}", args=[attendee.manage_token])


# --- A German party's pages --------------------------------------------------------------------


def test_a_german_partys_signup_page_is_in_german(client: Client, german_party):
    page = client.get(signup_url(german_party))

    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    assert page["Content-Language"] == "de"
    assert "<dt>Wann</dt>" in page.text
    assert "Acme Pets Shop lädt Sie ein:" in page.text
    assert "<h2>Anmelden</h2>" in page.text
    assert '<button type="submit" class="button">Anmelden</button>' in page.text
    assert "Nachname (optional)" in page.text
    # A new German party's starter questions are written in German.
    assert "Name des Haustiers (optional)" in page.text
    # Partyline's own consent sentences, and the owner named the German way.
    assert "Ja, Acme Pets Shop darf mir auch E-Mails zu künftigen Veranstaltungen" in page.text
    assert "Mit dem Absenden melden Sie sich für diese Party an" in page.text
    assert "Sie können die E-Mails von Acme Pets Shop jederzeit" in page.text
    assert "Anmeldungen über Partyline für Acme Pets Shop" in page.text
    assert "Sign up" not in page.text


def test_dates_on_a_german_page_read_the_german_way(client: Client, german_party):
    page = client.get(signup_url(german_party))

    assert GERMAN_START in page.text
    assert "Saturday" not in page.text
    assert "March" not in page.text


def test_a_refused_german_signup_says_so_in_german(client: Client, german_party):
    response = post_signup(client, german_party, email="")

    assert response.status_code == 400
    assert '<html lang="de">' in response.text
    assert "Bitte korrigieren Sie die markierten Felder unten." in response.text
    assert not Attendee.objects.exists()


def test_a_refused_german_signup_names_each_fields_problem_in_german(client, german_party):
    response = post_signup(client, german_party, email="")

    assert "Bitte geben Sie Ihre E-Mail-Adresse ein." in response.text


def test_the_thank_you_page_is_in_german(client: Client, german_party):
    response = post_signup(client, german_party)
    thanks = client.get(response["Location"])

    assert '<html lang="de">' in thanks.text
    assert "Vielen Dank, Sie sind angemeldet!" in thanks.text
    assert f"Wir freuen uns auf Sie bei <strong>Hundeparty</strong> am {GERMAN_START}" in (
        thanks.text
    )
    assert "Ihre persönliche Seite" in thanks.text


def test_a_german_signup_keeps_the_german_wording_it_was_shown(client: Client, german_party):
    post_signup(client, german_party)

    wording = Attendee.objects.get().consent_wording
    assert wording.language == "de"
    assert wording.marketing.startswith("Ja, Acme Pets Shop darf mir")


def test_each_language_keeps_its_own_wording_versions(client, german_party, english_party):
    for _ in range(2):  # read in turns: neither language's words count as a change
        client.get(signup_url(german_party))
        client.get(signup_url(english_party))

    wordings = ConsentWording.objects.order_by("version")
    assert [(w.version, w.language) for w in wordings] == [(1, "de"), (2, "en")]
    assert wordings[1].marketing.startswith("Yes, Acme Pets Shop may also email me")


def test_a_full_german_party_says_so_in_german(client: Client, organization, make_party):
    party = make_party(
        organization, language="de", capacity=1, seats_taken=1, waitlist_enabled=False
    )

    page = client.get(signup_url(party))

    assert "Diese Party ist ausgebucht." in page.text


def test_a_german_partys_rate_limit_speaks_german(client: Client, german_party, settings):
    settings.SIGNUP_RATE_PER_IP = "1/m"
    post_signup(client, german_party, email="one@example.com")

    response = post_signup(client, german_party, email="two@example.com")

    assert response.status_code == 429
    assert "Gerade kommen zu viele Anmeldungen aus Ihrem Netzwerk." in response.text
    assert " Sekunden erneut." in response.text or " Sekunde erneut." in response.text


def test_the_attendee_page_is_in_german(client: Client, german_party):
    attendee = signup(german_party, "ann@example.com", first_name="Ann")

    page = client.get(manage_url(attendee))

    assert '<html lang="de">' in page.text
    assert "Sie sind angemeldet." in page.text
    assert "Ihre Anmeldung" in page.text
    assert "Anmeldung stornieren" in page.text
    assert "In Ihren Kalender eintragen" in page.text
    assert GERMAN_START in page.text


def test_the_attendee_pages_messages_are_in_german(client: Client, german_party):
    attendee = signup(german_party, "ann@example.com", first_name="Ann")

    page = client.post(manage_url(attendee, "attendee_manage_cancel"), follow=True)

    assert "Ihre Anmeldung ist storniert. Ihre anderen E-Mails von Acme Pets Shop" in page.text
    assert "<strong>Sie haben Ihre Anmeldung am " in page.text


def test_the_attendees_calendar_file_speaks_german(client: Client, german_party):
    attendee = signup(german_party, "ann@example.com")

    response = client.get(manage_url(attendee, "attendee_calendar"))

    [event] = Calendar.from_ical(response.content).walk("VEVENT")
    assert "Anmeldung ändern oder stornieren: http" in str(event["DESCRIPTION"])


def test_the_erase_page_of_a_german_registration_is_in_german(client: Client, german_party):
    attendee = signup(german_party, "ann@example.com")

    page = client.get(reverse("privacy:attendee_erase", args=[attendee.manage_token]))

    assert "Ihre Anmeldung für Hundeparty löschen?" in page.text
    assert "im Klaviyo-Konto von Acme Pets Shop entfernt" in page.text


# --- English stays English ------------------------------------------------------------------------


def test_an_english_party_stays_english_for_a_german_browser(client: Client, english_party):
    page = client.get(signup_url(english_party), HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")

    assert '<html lang="en">' in page.text
    assert "<dt>When</dt>" in page.text
    assert "Saturday 15 March 2031, 18:30 CET" in page.text
    assert "Wann" not in page.text


def test_the_organizers_party_page_stays_english_for_a_german_party(
    login, owner, german_party, organization
):
    page = login(owner).get(
        reverse("parties:party_detail", args=[german_party.pk]), HTTP_ACCEPT_LANGUAGE="de"
    )

    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert "Saturday 15 March 2031, 18:30" in page.text
    assert "Deutsch" in page.text  # the party's language, in its Details


def test_the_language_does_not_leak_into_the_next_request(
    client: Client, login, owner, german_party
):
    # One thread serves both, as a web process's thread serves one request after another.
    assert '<html lang="de">' in client.get(signup_url(german_party)).text

    page = login(owner).get(reverse("parties:party_detail", args=[german_party.pk]))

    assert "Saturday 15 March 2031, 18:30" in page.text
    assert "März" not in page.text


def test_a_changed_language_shows_at_once_despite_the_cached_summary(client: Client, german_party):
    assert "<dt>Wann</dt>" in client.get(signup_url(german_party)).text
    Party.objects.filter(pk=german_party.pk).update(language="en")

    page = client.get(signup_url(german_party))

    assert "<dt>When</dt>" in page.text
    assert "Saturday 15 March 2031" in page.text


# --- Addresses that find no party: the browser's language ------------------------------------


def test_a_link_to_no_party_answers_in_the_browsers_language(client: Client):
    german = client.get("/p/no-such-party/", HTTP_ACCEPT_LANGUAGE="de-AT,de;q=0.9,en;q=0.5")
    other = client.get("/p/no-such-party/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")

    assert german.status_code == other.status_code == 404
    assert '<html lang="de">' in german.text
    assert "Seite nicht gefunden" in german.text
    assert german["Content-Language"] == "de"
    # What the language came from, for caches between the browser and us.
    assert "Accept-Language" in german["Vary"]
    # A language Partyline does not speak: English.
    assert '<html lang="en">' in other.text
    assert "Page not found" in other.text


def test_a_link_that_no_longer_works_answers_in_the_browsers_language(client: Client):
    response = client.get("/a/no-such-registration-link-000/", HTTP_ACCEPT_LANGUAGE="de")

    assert response.status_code == 404
    assert "Dieser Link funktioniert nicht mehr" in response.text


def test_organizer_pages_ignore_the_browsers_language(client: Client):
    response = client.get("/no/such/page/", HTTP_ACCEPT_LANGUAGE="de")

    assert response.status_code == 404
    assert '<html lang="en">' in response.text
    assert "Page not found" in response.text


# --- The party's form -------------------------------------------------------------------------


def test_the_party_form_saves_the_language(login, owner, english_party):
    edit = reverse("parties:party_edit", args=[english_party.pk])
    client = login(owner)
    form = {
        **PARTY_FORM,
        "name": english_party.name,
        "starts_at": local_input(english_party.starts_at),
        "language": "de",
    }

    response = client.post(edit, form)

    assert response.status_code == 302
    english_party.refresh_from_db()
    assert english_party.language == "de"
    assert 'value="de" selected' in client.get(edit).text


def test_a_new_party_is_created_in_the_language_chosen(login, owner, make_connection):
    make_connection(owner.organization)

    login(owner).post(reverse("parties:party_create"), {**PARTY_FORM, "language": "de"})

    assert Party.objects.get().language == "de"


def test_a_form_posted_without_the_language_keeps_the_partys(login, owner, german_party):
    form = {**PARTY_FORM, "name": german_party.name, "starts_at": local_input(STARTS_AT)}
    assert "language" not in form

    login(owner).post(reverse("parties:party_edit", args=[german_party.pk]), form)

    german_party.refresh_from_db()
    assert german_party.language == "de"


def test_an_unknown_language_is_refused(login, owner, english_party):
    form = {**PARTY_FORM, "language": "xx"}

    response = login(owner).post(reverse("parties:party_edit", args=[english_party.pk]), form)

    assert response.status_code == 400
    assert "Choose one of the languages listed." in response.text


def test_the_consent_wording_service_writes_in_the_language_asked(organization):
    german = services.consent_wording_current(organization=organization, language="de")
    english = services.consent_wording_current(organization=organization, language="en")

    assert german.registration.startswith("Mit dem Absenden melden Sie sich")
    assert english.registration.startswith("Signing up registers you for this party")
