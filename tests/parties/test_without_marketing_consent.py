"""Registering never depends on marketing consent: someone who declines it is registered, in
the party's list without a subscription (an import job naming the list, which changes no
consent and asks no confirmation), receives the party's events, and is shown as registered
without marketing consent. Against the sandbox, as Klaviyo would answer."""

from __future__ import annotations

from unittest import mock

import pytest

from integrations.klaviyo.client import KlaviyoClient
from klaviyo_sandbox import testing
from parties import sync
from parties.models import Attendee, Party, PartyEvent, PartyMetric, Place, SyncState
from tests.support.signups import FORM, signup, signup_url

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])

IMPORTS = ("POST", "/api/profile-bulk-import-jobs")
SUBSCRIBES = ("POST", "/api/profile-subscription-bulk-create-jobs")


@pytest.fixture(autouse=True)
def no_window(settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


@pytest.fixture
def party(sandbox_party) -> Party:
    testing.clear_calls()
    return sandbox_party


def declined(party: Party, email: str = "quiet@example.com") -> Attendee:
    return signup(party, email, marketing_consent=False)


def test_someone_who_declines_marketing_is_in_the_list_without_a_subscription(party):
    attendee = declined(party)
    agreed = signup(party, "keen@example.com")

    sync.party_sync(party_id=party.pk)

    attendee.refresh_from_db()
    agreed.refresh_from_db()
    assert (attendee.place, attendee.sync_state) == (Place.REGISTERED, SyncState.SYNCED)
    profile = testing.profile("quiet@example.com")
    assert profile["lists"] == [party.klaviyo_list_id]
    assert profile["consent"] != "SUBSCRIBED"  # in the list, consent untouched
    assert agreed.sync_state == SyncState.SYNCED
    assert testing.profile("keen@example.com")["consent"] == "SUBSCRIBED"
    # One import for those who agreed (then their subscribe), one into the list for the other.
    assert testing.call_count(*IMPORTS) == 2
    assert testing.call_count(*SUBSCRIBES) == 1
    # The party's own emails come with the registration.
    assert PartyEvent.objects.filter(attendee=attendee, metric=PartyMetric.REGISTERED).exists()


def test_on_a_double_opt_in_list_they_are_in_the_list_never_awaiting_confirmation(
    double_opt_in_party,
):
    party = double_opt_in_party
    testing.clear_calls()
    attendee = declined(party)

    sync.party_sync(party_id=party.pk)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.SYNCED
    assert testing.profile("quiet@example.com")["lists"] == [party.klaviyo_list_id]
    assert testing.call_count(*SUBSCRIBES) == 0  # no confirmation email asked for


def test_a_suppressed_address_that_declined_is_still_in_the_list(party):
    testing.suppress("quiet@example.com")
    attendee = declined(party)

    sync.party_sync(party_id=party.pk)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.SYNCED  # not "Suppressed": nothing was asked


def test_someone_waiting_who_declined_is_in_klaviyo_without_consent(party, make_attendee):
    attendee = make_attendee(
        party, "wait@example.com", place=Place.WAITLISTED, marketing_consent=False
    )

    sync.party_sync(party_id=party.pk)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.CONSENTED
    profile = testing.profile("wait@example.com")
    assert profile["lists"] == []
    assert profile["consent"] != "SUBSCRIBED"
    assert testing.call_count(*SUBSCRIBES) == 0


def test_consent_given_on_a_later_signup_subscribes_them_and_updates_the_record(party):
    attendee = declined(party)
    sync.party_sync(party_id=party.pk)
    first_wording = Attendee.objects.get(pk=attendee.pk).consent_wording

    signup(party, "quiet@example.com")  # ticked this time
    sync.party_sync(party_id=party.pk)

    attendee.refresh_from_db()
    assert attendee.marketing_consent
    assert attendee.consent_wording == first_wording  # the same words, shown again
    assert attendee.sync_state == SyncState.SYNCED
    assert testing.profile("quiet@example.com")["consent"] == "SUBSCRIBED"


def test_a_later_signup_without_the_box_does_not_withdraw_consent(party):
    attendee = signup(party, "keen@example.com")
    consented_at = Attendee.objects.get(pk=attendee.pk).consented_at

    declined(party, "keen@example.com")

    attendee.refresh_from_db()
    assert attendee.marketing_consent  # unsubscribing is Klaviyo's, from its emails
    assert attendee.consented_at == consented_at


def test_the_party_page_and_the_csv_say_registered_without_marketing_consent(
    client, login, owner, party
):
    client.post(signup_url(party), {**FORM, "marketing_consent": ""})
    organizer = login(owner)

    page = organizer.get(f"/parties/{party.pk}/").text
    export = b"".join(organizer.get(f"/parties/{party.pk}/attendees.csv").streaming_content).decode(
        "utf-8-sig"
    )

    assert "No marketing consent" in page
    header, row = export.splitlines()[:2]
    assert "marketing_consent" in header
    assert ",no," in row


@pytest.mark.parametrize("suppressed", [False, True])
def test_not_in_the_list_yet_they_are_on_their_way_never_suppressed_or_awaiting(
    double_opt_in_party, suppressed
):
    party = double_opt_in_party
    if suppressed:
        testing.suppress("quiet@example.com")
    attendee = declined(party)
    # The import ran, but the list does not show them yet (Klaviyo's lag).
    with mock.patch.object(KlaviyoClient, "list_members_among", return_value=[]):
        sync.party_sync(party_id=party.pk)

    attendee.refresh_from_db()
    assert attendee.checked_at is not None  # read back, and found not there yet
    assert attendee.sync_state == SyncState.SENT  # not "Suppressed", not "Awaiting"
