"""Each attendee's own page, reached by their private link: their place (registered, waiting
with a position, offered until a deadline, cancelled), their details, cancelling after a
confirmation, claiming an offer, signing up again; the thank-you page's link for a new signup
only; a full party's form; the organizer replacing a link. Bad links and double clicks each get
a clear page, and nothing is counted twice."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from parties import places, services
from parties.models import (
    Attendee,
    OptInProcess,
    Party,
    PartyEvent,
    PartyMetric,
    Place,
    SyncState,
)
from parties.public_views import THANKS_COOKIE
from tests.support.signups import post_signup, signup

pytestmark = pytest.mark.django_db


@pytest.fixture
def party(owner, make_party) -> Party:
    return make_party(owner.organization, name="Howl-o-ween", capacity=2)


def page_url(attendee: Attendee, name: str = "attendee_manage") -> str:
    return reverse(f"parties:{name}", args=[attendee.manage_token])


def events_of(attendee: Attendee, metric: PartyMetric) -> int:
    return PartyEvent.objects.filter(attendee=attendee, metric=metric).count()


def fresh(attendee: Attendee) -> Attendee:
    attendee.refresh_from_db()
    return attendee


# --- The link ---------------------------------------------------------------------------------


def test_the_link_is_long_random_and_carries_no_personal_data(party):
    ann, bob = signup(party, "ann@example.com"), signup(party, "bob@example.com")
    assert len(ann.manage_token) >= 22  # at least 128 bits in URL-safe base64
    assert ann.manage_token != bob.manage_token
    url = page_url(ann)
    assert "ann" not in url.lower()
    assert str(ann.pk) not in url.split("/")


def test_a_registered_attendee_sees_the_party_and_their_place(client: Client, party):
    ann = signup(party, "ann@example.com", first_name="Ann")
    response = client.get(page_url(ann))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Howl-o-ween" in text
    assert "You're registered." in text
    assert "Cancel my registration" in text
    assert "Add it to your calendar" in text
    # Personal data: never stored by a cache, never framed.
    assert "no-store" in response["Cache-Control"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_waitlist_shows_its_position(client: Client, party):
    for name in ("reg1", "reg2", "ann"):
        signup(party, f"{name}@example.com")
    bob = signup(party, "bob@example.com")
    assert bob.place == Place.WAITLISTED
    text = client.get(page_url(bob)).content.decode()
    assert "number 2 on the waitlist" in text
    assert "Leave the waitlist" in text


@pytest.mark.parametrize(
    "token",
    ["not-a-real-link-at-all-000000", "short", "x" * 200, "bad!token!bad!token!bad!token"],
)
def test_a_link_that_was_never_given_is_a_clear_404(client: Client, party, token):
    response = client.get(f"/a/{token}/")
    assert response.status_code == 404
    assert "This link no longer works" in response.content.decode()


def test_a_deleted_party_or_registration_leaves_a_clear_404(client: Client, party):
    ann = signup(party, "ann@example.com")
    bob = signup(party, "bob@example.com")
    ann.delete()
    assert client.get(page_url(ann)).status_code == 404
    services.party_delete(party=party, delete_klaviyo_list=False)
    response = client.get(page_url(bob))
    assert response.status_code == 404
    assert "This link no longer works" in response.content.decode()


def test_the_page_is_rate_limited_per_address_reads_included(client: Client, party, settings):
    settings.MANAGE_RATE_PER_IP = "3/m"
    ann = signup(party, "ann@example.com")
    for _ in range(3):
        assert client.get(page_url(ann)).status_code == 200
    response = client.get(page_url(ann))
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    # Guesses count too: a wrong link is refused before it is looked up.
    assert client.get("/a/guess-guess-guess-guess-guess/").status_code == 429
    # Another network is not slowed down.
    assert client.get(page_url(ann), REMOTE_ADDR="192.0.2.9").status_code == 200


# --- Details ----------------------------------------------------------------------------------


def test_details_are_updated_and_sent_to_klaviyo_again(client: Client, party):
    ann = signup(party, "ann@example.com", first_name="Ann", pet_name="Rex")
    type(ann).objects.filter(pk=ann.pk).update(sync_state=SyncState.SYNCED)
    response = client.post(
        page_url(ann),
        {"first_name": "Annie", "last_name": "Lee", "pet_name": "", "pet_type": "cat"},
    )
    assert response.status_code == 303
    ann = fresh(ann)
    # A blank typed on their own page clears an answer (a re-signup's blank would not).
    assert (ann.first_name, ann.last_name, ann.answers) == ("Annie", "Lee", {"pet_type": "cat"})
    assert ann.sync_state == SyncState.PENDING
    assert "your details are updated" in client.get(page_url(ann)).content.decode()


def test_unchanged_details_leave_a_synced_attendee_alone(client: Client, party):
    ann = signup(party, "ann@example.com", first_name="Ann", pet_name="Rex")
    type(ann).objects.filter(pk=ann.pk).update(sync_state=SyncState.SYNCED)
    client.post(page_url(ann), {"first_name": "Ann", "last_name": "", "pet_name": "Rex"})
    assert fresh(ann).sync_state == SyncState.SYNCED


def test_bad_details_are_shown_and_nothing_is_saved(client: Client, party):
    ann = signup(party, "ann@example.com", first_name="Ann")
    response = client.post(page_url(ann), {"first_name": "", "pet_name": "x" * 500})
    assert response.status_code == 400
    assert "Enter your first name." in response.content.decode()
    assert fresh(ann).first_name == "Ann"


def test_the_email_address_cannot_be_changed_on_the_page(client: Client, party):
    ann = signup(party, "ann@example.com", first_name="Ann")
    client.post(page_url(ann), {"first_name": "Ann", "email": "mallory@example.com"})
    assert fresh(ann).email == "ann@example.com"


# --- Cancelling -------------------------------------------------------------------------------


def test_cancel_asks_first_then_frees_the_place_for_the_first_waiting(client: Client, party):
    reg = signup(party, "reg@example.com")
    signup(party, "reg2@example.com")
    ann = signup(party, "ann@example.com")
    assert ann.place == Place.WAITLISTED

    confirm = client.get(page_url(reg, "attendee_manage_cancel"))
    assert confirm.status_code == 200
    assert "Your place goes to the next person waiting." in confirm.content.decode()
    assert fresh(reg).place == Place.REGISTERED  # asking changes nothing

    response = client.post(page_url(reg, "attendee_manage_cancel"))
    assert response.status_code == 303
    reg = fresh(reg)
    assert reg.place == Place.CANCELLED
    assert reg.cancelled_by == places.BY_ATTENDEE
    assert fresh(ann).place == Place.REGISTERED
    cancelled = PartyEvent.objects.get(attendee=reg, metric=PartyMetric.REGISTRATION_CANCELLED)
    assert cancelled.properties["cancelled_by"] == "attendee"
    promoted = PartyEvent.objects.get(
        attendee=ann, metric=PartyMetric.REGISTERED, properties__from_waitlist=True
    )
    assert promoted.properties["manage_url"].endswith(page_url(ann))


def test_a_double_click_on_cancel_cancels_once(client: Client, party):
    reg = signup(party, "reg@example.com")
    for _ in range(2):
        assert client.post(page_url(reg, "attendee_manage_cancel")).status_code == 303
    assert events_of(reg, PartyMetric.REGISTRATION_CANCELLED) == 1
    party.refresh_from_db()
    assert party.seats_taken == 0
    assert "cancelled already" in client.get(page_url(reg)).content.decode()


def test_cancel_needs_the_csrf_token(party):
    reg = signup(party, "reg@example.com")
    client = Client(enforce_csrf_checks=True)
    assert client.post(page_url(reg, "attendee_manage_cancel")).status_code == 403
    assert fresh(reg).place == Place.REGISTERED


# --- Offers -----------------------------------------------------------------------------------


@pytest.fixture
def offered(party) -> Attendee:
    Party.objects.filter(pk=party.pk).update(claim_window_hours=24)
    party.refresh_from_db()
    reg = signup(party, "reg@example.com")
    signup(party, "reg2@example.com")
    ann = signup(party, "ann@example.com")
    places.attendee_cancel(attendee=reg, by=places.BY_ORGANIZER)
    ann = fresh(ann)
    assert ann.place == Place.OFFERED
    return ann


def test_an_offer_is_claimed_on_the_page(client: Client, offered):
    text = client.get(page_url(offered)).content.decode()
    assert "A place is yours if you claim it by" in text
    assert client.post(page_url(offered, "attendee_manage_claim")).status_code == 303
    assert fresh(offered).place == Place.REGISTERED
    assert "The place is yours" in client.get(page_url(offered)).content.decode()
    # A second click is no second registration.
    client.post(page_url(offered, "attendee_manage_claim"))
    assert events_of(offered, PartyMetric.REGISTERED) == 1


def test_a_claim_after_the_window_gets_a_clear_answer(client: Client, offered):
    Attendee.objects.filter(pk=offered.pk).update(offer_expires_at=timezone.now())
    client.post(page_url(offered, "attendee_manage_claim"))
    text = client.get(page_url(offered)).content.decode()
    assert "This offer has ended" in text
    assert fresh(offered).place == Place.OFFERED  # the sweep passes it on; never registered


def test_the_offer_event_carries_the_claim_link(offered):
    event = PartyEvent.objects.get(attendee=offered, metric=PartyMetric.OFFERED_SPOT)
    assert event.properties["manage_url"].endswith(page_url(offered))
    assert event.properties["claim_window_hours"] == 24


# --- Signing up again -------------------------------------------------------------------------


def test_signing_up_again_after_cancelling_takes_a_free_place(client: Client, party):
    ann = signup(party, "ann@example.com")
    client.post(page_url(ann, "attendee_manage_cancel"))
    text = client.get(page_url(ann)).content.decode()
    assert "There is room: you can sign up again." in text
    client.post(page_url(ann, "attendee_manage_register_again"))
    ann = fresh(ann)
    assert ann.place == Place.REGISTERED
    assert ann.registrations == 2
    assert events_of(ann, PartyMetric.REGISTERED) == 2
    # A double click is one registration, holding one place.
    client.post(page_url(ann, "attendee_manage_register_again"))
    assert fresh(ann).registrations == 2
    party.refresh_from_db()
    assert party.seats_taken == 1


def test_signing_up_again_when_full_joins_the_waitlist(client: Client, party):
    ann = signup(party, "ann@example.com")
    client.post(page_url(ann, "attendee_manage_cancel"))
    signup(party, "b@example.com")
    signup(party, "c@example.com")
    assert "puts you at the end of the waitlist" in client.get(page_url(ann)).content.decode()
    client.post(page_url(ann, "attendee_manage_register_again"))
    assert fresh(ann).place == Place.WAITLISTED


def test_signing_up_again_when_full_without_a_waitlist_changes_nothing(client: Client, party):
    Party.objects.filter(pk=party.pk).update(waitlist_enabled=False)
    party.refresh_from_db()
    ann = signup(party, "ann@example.com")
    client.post(page_url(ann, "attendee_manage_cancel"))
    signup(party, "b@example.com")
    signup(party, "c@example.com")
    client.post(page_url(ann, "attendee_manage_register_again"))
    ann = fresh(ann)
    assert ann.place == Place.CANCELLED
    assert ann.registrations == 1
    assert "This party is full." in client.get(page_url(ann)).content.decode()


def test_a_cancelled_party_offers_nothing_to_do(client: Client, party):
    ann = signup(party, "ann@example.com")
    services.party_cancel(party=party)
    text = client.get(page_url(ann)).content.decode()
    assert "This party was cancelled." in text
    assert "Cancel my registration" not in text
    assert "Save my details" not in text


# --- The thank-you page and the public form ------------------------------------------------------


def test_a_new_signup_sees_its_place_and_link_on_the_thank_you_page(client: Client, party):
    response = post_signup(client, party, email="ann@example.com")
    assert THANKS_COOKIE in response.cookies
    cookie = response.cookies[THANKS_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    thanks = client.get(response["Location"])
    ann = Attendee.objects.get(email="ann@example.com")
    assert page_url(ann) in thanks.content.decode()
    assert "no-store" in thanks["Cache-Control"]


def test_a_repeated_address_never_reveals_the_earlier_signups_link(party):
    signup(party, "ann@example.com")
    stranger = Client()
    response = post_signup(stranger, party, email="ann@example.com")
    assert THANKS_COOKIE not in response.cookies
    text = stranger.get(response["Location"]).content.decode()
    assert Attendee.objects.get(email="ann@example.com").manage_token not in text
    assert "emails have the link" in text


def test_a_forged_thanks_cookie_shows_nothing(client: Client, party):
    ann = signup(party, "ann@example.com")
    client.cookies[THANKS_COOKIE] = ann.manage_token  # unsigned
    text = client.get(reverse("parties:signup_thanks", args=[party.slug])).content.decode()
    assert ann.manage_token not in text


def test_the_thank_you_page_gives_a_waitlist_position(client: Client, party):
    signup(party, "a@example.com")
    signup(party, "b@example.com")
    page = client.get(reverse("parties:signup", args=[party.slug])).content.decode()
    assert "Join the waitlist" in page
    response = post_signup(client, party, email="ann@example.com")
    text = client.get(response["Location"]).content.decode()
    assert "number 1" in text
    assert "waitlist" in text


def test_a_full_party_without_a_waitlist_says_so_and_keeps_nothing(client: Client, party):
    Party.objects.filter(pk=party.pk).update(waitlist_enabled=False)
    signup(party, "a@example.com")
    signup(party, "b@example.com")
    page = client.get(reverse("parties:signup", args=[party.slug]))
    assert "This party is full." in page.content.decode()
    response = post_signup(client, party, email="late@example.com")
    assert response.status_code == 409
    assert not Attendee.objects.filter(email="late@example.com").exists()
    # The organizer opens a waitlist: the form is back.
    Party.objects.filter(pk=party.pk).update(waitlist_enabled=True)
    assert (
        "Join the waitlist"
        in client.get(reverse("parties:signup", args=[party.slug])).content.decode()
    )


# --- The organizer replaces a link ---------------------------------------------------------------


def test_the_organizer_replaces_a_link_and_the_old_one_stops_working(login, owner, party):
    ann = signup(party, "ann@example.com")
    old = page_url(ann)
    organizer = login(owner.user)
    response = organizer.post(
        reverse("parties:attendee_link_renew", args=[party.pk, ann.pk]), follow=True
    )
    ann = fresh(ann)
    assert page_url(ann) != old
    assert page_url(ann) in response.content.decode()
    visitor = Client()
    assert visitor.get(old).status_code == 404
    assert visitor.get(page_url(ann)).status_code == 200


def test_another_tenant_cannot_replace_a_link(login, make_member, party):
    ann = signup(party, "ann@example.com")
    stranger = login(make_member().user)
    response = stranger.post(reverse("parties:attendee_link_renew", args=[party.pk, ann.pk]))
    assert response.status_code == 404
    assert fresh(ann).manage_token == ann.manage_token


def test_a_double_opt_in_signup_is_asked_to_confirm_by_email(client: Client, owner, make_party):
    party = make_party(owner.organization, opt_in_process=OptInProcess.DOUBLE)
    response = post_signup(client, party, email="ann@example.com")
    text = client.get(response["Location"]).content.decode()
    assert "One more step: confirm your email address." in text
    ann = Attendee.objects.get(email="ann@example.com")
    Attendee.objects.filter(pk=ann.pk).update(sync_state=SyncState.AWAITING_CONFIRMATION)
    assert "Please confirm your email address." in client.get(page_url(ann)).content.decode()


def test_a_single_opt_in_signup_is_not_asked_to_confirm(client: Client, party):
    response = post_signup(client, party, email="ann@example.com")
    assert "confirm your email" not in client.get(response["Location"]).content.decode()


def test_a_cancelled_registration_s_details_cannot_be_changed(client: Client, party):
    ann = signup(party, "ann@example.com", first_name="Ann")
    places.attendee_cancel(attendee=ann, by=places.BY_ATTENDEE)
    client.post(page_url(ann), {"first_name": "Mallory"})
    assert fresh(ann).first_name == "Ann"
    assert "sign up again to change it" in client.get(page_url(ann)).content.decode()
