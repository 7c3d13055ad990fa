"""The public signup page: no login, validation next to each field, consent, honeypot, CSRF,
rate limits, closed parties, and a signup saved without waiting for Klaviyo."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from parties import services
from parties.models import Attendee, Party, PartyEvent, PartyMetric, SyncState
from tests.support.signups import FORM, post_signup, signup_url

pytestmark = pytest.mark.django_db

TOO_MANY = "Too many signups from your network right now."


@pytest.fixture
def party(make_party, make_org) -> Party:
    return make_party(
        make_org("Acme Pets Shop"),
        name="Howl-o-ween",
        description="Costumes encouraged.\nTreats provided.",
    )


def test_signup_page_shows_the_party_and_the_form_without_login(client, party):
    page = client.get(signup_url(party))

    assert page.status_code == 200
    assert "Howl-o-ween" in page.text
    assert "1 Bark Street" in page.text
    assert "Boston, MA" in page.text
    assert "Costumes encouraged." in page.text
    for name in ["first_name", "last_name", "email", "pet_name", "pet_type", "marketing_consent"]:
        assert f'name="{name}"' in page.text
    assert "csrfmiddlewaretoken" in page.text


def test_the_form_says_which_fields_may_be_left_blank(client, party):
    form = client.get(signup_url(party)).context["form"]

    labels = {field.name: field.label for field in form.visible_fields()}
    assert labels["first_name"] == "First name"
    assert labels["email"] == "Email"
    assert labels["last_name"] == "Last name (optional)"
    assert labels["pet_name"] == "Pet's name (optional)"
    assert labels["pet_type"] == "Pet type (optional)"
    # Nothing required is called optional, nothing optional goes unmarked.
    for field in form.visible_fields():
        if field.name not in ("marketing_consent", form.HONEYPOT):
            assert field.field.required != field.label.endswith("(optional)"), field.name


def test_the_form_asks_marketing_consent_apart_unticked_and_says_what_registering_brings(
    client, party
):
    page = client.get(signup_url(party))

    box = page.text.split('name="marketing_consent"')[0].rsplit("<input", 1)[1]
    assert "checked" not in box
    assert "required" not in box
    assert (
        "Yes, Acme Pets Shop may also email me about future events and news. I can "
        "unsubscribe at any time."
    ) in page.text
    assert (
        "Signing up registers you for this party: Acme Pets Shop will email you about it "
        "(your confirmation, reminders and any change), whether or not you tick the box."
    ) in page.text


def test_honeypot_is_hidden_from_people_and_assistive_technology(client, party):
    page = client.get(signup_url(party))

    honeypot = page.text.split('class="honeypot"')[1].split("</div>")[0]
    assert 'aria-hidden="true"' in honeypot
    assert 'name="website"' in honeypot
    assert 'tabindex="-1"' in honeypot
    assert 'autocomplete="off"' in honeypot


def test_public_pages_use_no_organizer_nav_and_no_third_party_resources(client, party):
    page = client.get(signup_url(party))

    assert 'class="nav-links"' not in page.text
    assert "https://" not in page.text
    assert "//cdn" not in page.text


def test_valid_signup_is_saved_pending_and_redirects_to_thanks(client, party):
    response = post_signup(client, party)

    assert response.status_code == 303
    assert response.url == reverse("parties:signup_thanks", args=[party.slug])
    attendee = Attendee.objects.get()
    assert attendee.party == party
    assert attendee.email == "sarah@example.com"
    assert (attendee.first_name, attendee.last_name) == ("Sarah", "Mason")
    assert attendee.answers == {"pet_name": "Rex", "pet_type": "dog"}
    assert attendee.sync_state == SyncState.PENDING
    assert attendee.consented_at is not None


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_signup_never_calls_klaviyo(client, party, sandbox):
    post_signup(client, party)

    assert Attendee.objects.count() == 1
    assert not sandbox.calls


def test_thanks_page_thanks_the_attendee(client, party):
    page = client.get(post_signup(client, party).url)

    assert page.status_code == 200
    assert "Thank you" in page.text
    assert "Howl-o-ween" in page.text


def test_same_email_twice_keeps_one_signup(client, party):
    post_signup(client, party)
    post_signup(client, party, email="SARAH@example.com", pet_name="Rex II")

    attendee = Attendee.objects.get()
    assert attendee.answers["pet_name"] == "Rex II"


def test_unicode_names_are_kept_as_typed(client, party):
    response = post_signup(
        client, party, first_name="Zoë", last_name="Ñúñez 🐶", pet_name="Façade 🐈", pet_type="猫"
    )

    assert response.status_code == 303
    attendee = Attendee.objects.get()
    assert (attendee.first_name, attendee.last_name) == ("Zoë", "Ñúñez 🐶")
    assert attendee.answers == {"pet_name": "Façade 🐈", "pet_type": "猫"}


def test_whitespace_around_input_is_stripped(client, party):
    post_signup(
        client, party, first_name="  Sarah ", email=" sarah@example.com ", pet_type=" dog\t"
    )

    attendee = Attendee.objects.get()
    assert (attendee.first_name, attendee.email, attendee.answers["pet_type"]) == (
        "Sarah",
        "sarah@example.com",
        "dog",
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email": "not-an-email"}, "Enter a valid email address, like name@example.com."),
        ({"email": ""}, "Enter your email address."),
        ({"first_name": ""}, "Enter your first name."),
        ({"first_name": "   "}, "Enter your first name."),
        ({"first_name": "x" * 10_240}, "Use at most 100 characters (this has 10240)."),
        ({"last_name": "x" * 10_240}, "Use at most 100 characters (this has 10240)."),
        ({"pet_name": "🐶" * 201}, "Use at most 200 characters (this has 201)."),
        ({"email": "a" * 250 + "@example.com"}, "Use at most 254 characters"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_saved(client, party, changes, message):
    response = post_signup(client, party, **changes)

    assert response.status_code == 400
    assert message in response.text
    assert "Please fix the marked fields below." in response.text
    assert not Attendee.objects.exists()


@pytest.mark.parametrize("ticked", [True, False])
def test_registering_stands_with_or_without_marketing_consent(client, party, ticked):
    data = {key: value for key, value in FORM.items() if key != "marketing_consent"}
    if ticked:
        data["marketing_consent"] = "on"

    response = client.post(signup_url(party), data)

    assert response.status_code == 303
    attendee = Attendee.objects.get()
    assert attendee.place == "registered"
    assert attendee.marketing_consent is ticked
    # The record keeps the words the page showed, when, and where.
    assert attendee.consent_wording.marketing.startswith("Yes, Acme Pets Shop may also email")
    assert attendee.consent_wording.version == 1
    assert attendee.signup_source == "public_page"
    assert attendee.consented_at is not None


def test_the_record_keeps_the_version_the_page_showed_after_an_edit(client, party):
    page = client.get(signup_url(party))
    shown = page.context["form"].wording
    organization = party.organization
    organization.marketing_consent_text = "Send me the monthly dog newsletter."
    organization.save()

    post_signup(client, party, consent_wording=str(shown.pk))
    later = client.get(signup_url(party)).context["form"].wording
    post_signup(client, party, email="later@example.com", consent_wording=str(later.pk))

    assert Attendee.objects.get(email="sarah@example.com").consent_wording == shown
    newer = Attendee.objects.get(email="later@example.com").consent_wording
    assert (newer.version, newer.marketing) == (2, "Send me the monthly dog newsletter.")
    # The earlier version is kept as it was.
    shown.refresh_from_db()
    assert shown.marketing.startswith("Yes, Acme Pets Shop")


def test_a_wording_of_another_organization_is_not_recorded(client, party, make_party):
    stranger = make_party(name="Elsewhere")
    theirs = client.get(signup_url(stranger)).context["form"].wording

    post_signup(client, party, consent_wording=str(theirs.pk))

    # Not theirs to claim: the signup records the version this organization's page shows.
    recorded = Attendee.objects.get().consent_wording
    assert recorded.organization == party.organization
    assert recorded != theirs


def test_an_empty_form_gets_messages_for_the_required_fields(client, party):
    response = client.post(signup_url(party), {})

    assert response.status_code == 400
    assert "Enter your first name." in response.text
    assert "Enter your email address." in response.text
    assert not Attendee.objects.exists()


def test_a_null_character_is_refused_not_a_server_error(client, party):
    response = post_signup(client, party, first_name="Sa\x00rah")

    assert response.status_code == 400
    assert not Attendee.objects.exists()


def test_refused_input_is_kept_in_the_form(client, party):
    response = post_signup(client, party, email="nope", first_name="Zoë")

    assert 'value="Zoë"' in response.text
    assert 'value="nope"' in response.text


def test_honeypot_filled_gets_the_usual_thanks_and_saves_nothing(client, party):
    response = post_signup(client, party, website="http://spam.example")

    assert response.status_code == 303
    assert response.url == reverse("parties:signup_thanks", args=[party.slug])
    assert not Attendee.objects.exists()


def test_honeypot_filled_with_invalid_input_still_gets_the_quiet_answer(client, party):
    response = client.post(signup_url(party), {"website": "x", "email": "bad"})

    assert response.status_code == 303
    assert not Attendee.objects.exists()


def test_signup_without_csrf_token_is_refused(party):
    client = Client(enforce_csrf_checks=True)

    response = client.post(signup_url(party), FORM)

    assert response.status_code == 403
    assert not Attendee.objects.exists()


def test_signup_with_csrf_token_from_the_page_works(party):
    client = Client(enforce_csrf_checks=True)
    client.get(signup_url(party))

    response = client.post(
        signup_url(party),
        {**FORM, "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
        follow=True,
    )

    assert response.redirect_chain == [(reverse("parties:signup_thanks", args=[party.slug]), 303)]
    assert "Thank you, you're signed up!" in response.text
    attendee = Attendee.objects.get()
    assert (attendee.party, attendee.email, attendee.first_name) == (
        party,
        "sarah@example.com",
        "Sarah",
    )
    assert attendee.sync_state == SyncState.PENDING


def test_unknown_slug_is_404(client, party):
    assert client.get("/p/not-a-party/").status_code == 404
    assert client.post("/p/not-a-party/", FORM).status_code == 404
    assert client.get("/p/not-a-party/thanks/").status_code == 404


def test_closed_party_says_so_and_shows_no_form(client, party):
    Party.objects.filter(pk=party.pk).update(signups_open=False)

    page = client.get(signup_url(party))

    assert page.status_code == 200
    assert "Signups for this party are closed." in page.text
    assert "Howl-o-ween" in page.text
    assert "<form" not in page.text


def test_closed_party_refuses_a_post_with_the_same_page(client, party):
    Party.objects.filter(pk=party.pk).update(signups_open=False)

    response = post_signup(client, party)

    assert response.status_code == 200
    assert "Signups for this party are closed." in response.text
    assert not Attendee.objects.exists()


def test_signups_over_the_per_ip_rate_get_429_with_their_input_kept(client, party, settings):
    settings.SIGNUP_RATE_PER_IP = "2/m"
    post_signup(client, party, email="one@example.com")
    post_signup(client, party, email="two@example.com")

    response = post_signup(client, party, email="three@example.com", first_name="Zoë")

    assert response.status_code == 429
    assert TOO_MANY in response.text
    # It says when to come back, and so does the header.
    assert 0 < int(response["Retry-After"]) <= 60
    assert "Please try again in" in response.text
    assert 'value="three@example.com"' in response.text
    assert 'value="Zoë"' in response.text
    assert set(Attendee.objects.values_list("email", flat=True)) == {
        "one@example.com",
        "two@example.com",
    }


def test_the_per_ip_rate_counts_each_address_separately(client, party, settings):
    settings.SIGNUP_RATE_PER_IP = "1/m"
    first = post_signup(client, party, email="a@example.com")
    other = post_signup(client, party, address="10.0.0.2", email="b@example.com")

    assert (first.status_code, other.status_code) == (303, 303)


def test_spoofed_forwarded_headers_do_not_escape_the_per_ip_rate(client, party, settings):
    """Without TRUSTED_PROXIES every post from one peer shares its limit, whatever it claims."""
    settings.TRUSTED_PROXIES = []
    settings.SIGNUP_RATE_PER_IP = "2/m"
    statuses = [
        client.post(
            signup_url(party),
            {**FORM, "email": f"guest{n}@example.com"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        ).status_code
        for n in range(3)
    ]

    assert statuses == [303, 303, 429]


def test_behind_a_trusted_proxy_each_real_client_has_its_own_rate(client, party, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.SIGNUP_RATE_PER_IP = "1/m"

    def post_through_proxy(n: int, forwarded: str) -> int:
        return client.post(
            signup_url(party),
            {**FORM, "email": f"guest{n}@example.com"},
            REMOTE_ADDR="10.0.0.5",
            HTTP_X_FORWARDED_FOR=forwarded,
        ).status_code

    assert post_through_proxy(1, "203.0.113.7") == 303
    assert post_through_proxy(2, "203.0.113.8") == 303
    # Writing another address on the left does not make the same client someone new.
    assert post_through_proxy(3, "192.0.2.1, 203.0.113.7") == 429


def test_signups_over_the_per_party_rate_get_429(client, party, make_party, settings):
    settings.SIGNUP_RATE_PER_PARTY = "2/m"
    for number in range(2):
        post_signup(client, party, address=f"10.0.0.{number}", email=f"guest{number}@example.com")

    crowded = post_signup(client, party, address="10.0.1.1")
    other_party = post_signup(client, make_party(), address="10.0.1.1")

    assert crowded.status_code == 429
    assert TOO_MANY in crowded.text
    assert other_party.status_code == 303


def test_viewing_the_page_does_not_count_against_the_rate(client, party, settings):
    settings.SIGNUP_RATE_PER_IP = "1/m"
    for _ in range(5):
        assert client.get(signup_url(party)).status_code == 200

    assert post_signup(client, party).status_code == 303


def test_the_default_party_limit_takes_six_thousand_signups_a_minute_from_distinct_addresses():
    """A shared link's rush is not refused: 6,000 signups in a minute from 6,000 addresses all
    pass the limits (the per-address limit still stops one address hammering)."""
    from django.test import RequestFactory

    from parties.public_views import _rate_limited

    factory = RequestFactory()
    refused = sum(
        _rate_limited(
            factory.post("/p/rush/", REMOTE_ADDR=f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"),
            "rush",
        )
        for n in range(6000)
    )

    assert refused == 0


# --- What a rush of visitors costs ------------------------------------------------------------


def test_an_edit_shows_on_the_signup_page_at_once(client, party):
    """The page's rendered parts are kept between visits, keyed on everything they show."""
    from datetime import timedelta

    from parties import services

    client.get(signup_url(party))
    later = party.starts_at + timedelta(days=1)
    services.party_update(
        party=party,
        data={
            "name": "Howl-o-ween II",
            "address": "2 Purr Lane",
            "city": "Salem",
            "description": "Bring a lantern.",
            "starts_at": later,
        },
    )

    page = client.get(signup_url(party))

    assert "Howl-o-ween II" in page.text
    assert "2 Purr Lane" in page.text
    assert "Salem, MA" in page.text
    assert "Bring a lantern." in page.text
    assert "Costumes encouraged." not in page.text
    assert later.strftime("%Y-%m-%d") in page.text

    party.organization.name = "Acme Pets & Treats"
    party.organization.save()

    page = client.get(signup_url(party))

    assert "Yes, Acme Pets &amp; Treats may also email me" in page.text
    assert "Acme Pets &amp; Treats invites you to" in page.text


def test_after_a_visit_refused_input_still_shows_its_errors_and_values(client, party, settings):
    client.get(signup_url(party))  # the blank form is now kept for the next visitor

    refused = post_signup(client, party, email="not-an-address", first_name="Zoë")

    assert refused.status_code == 400
    assert "Enter a valid email address" in refused.text
    assert 'value="Zoë"' in refused.text

    settings.SIGNUP_RATE_PER_IP = "0/m"
    too_many = post_signup(client, party, email="late@example.com")

    assert too_many.status_code == 429
    assert 'value="late@example.com"' in too_many.text


def test_a_new_signup_is_two_inserts_a_place_and_a_look_at_each_plan(
    client, party, django_assert_num_queries
):
    """The party (with what its event needs), the organization's consent wording shown now
    (the record's version), the party's questions, the attendee's INSERT, its place (this
    party has no capacity: the party's signup gate held shared on PostgreSQL, then a look
    that it still takes everyone; nothing of the party's is locked), its `Registered for
    Party` event's INSERT, then whether an event run and a sync run are planned already (the
    first signup plans them), in one transaction (a savepoint inside the test's own)."""
    services.event_sender_ensure(connection=party.connection)
    post_signup(client, party, email="first@example.com")  # plans the runs
    gate = 1 if connection.vendor == "postgresql" else 0

    with django_assert_num_queries(10 + gate):
        response = post_signup(client, party, email="second@example.com")

    assert response.status_code == 303
    assert Attendee.objects.count() == 2
    assert PartyEvent.objects.filter(metric=PartyMetric.REGISTERED).count() == 2
