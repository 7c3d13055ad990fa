"""Each place asks Klaviyo for its own thing, against the sandbox: a registered attendee joins
the party's list; one waitlisted or offered a place is in Klaviyo with their consent but not
in the list; a cancelled one leaves the list (never unsubscribed), and one never sent needs
no call at all."""

from __future__ import annotations

import json

import pytest

from klaviyo_sandbox import testing
from parties import sync
from parties.models import Attendee, Party, Place, SyncState
from tests.support.clock import let_time_pass

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])

IMPORTS = ("POST", "/api/profile-bulk-import-jobs")
SUBSCRIBES = ("POST", "/api/profile-subscription-bulk-create-jobs")
REMOVALS = ("DELETE", "/api/lists/")
LIST_READS = ("GET", "/api/lists/")


@pytest.fixture(autouse=True)
def no_window(settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


@pytest.fixture
def party(sandbox_party) -> Party:
    testing.clear_calls()
    return sandbox_party


def run(party: Party) -> None:
    sync.party_sync(party_id=party.pk)


def moved(attendee: Attendee, place: str) -> Attendee:
    """What the services do when someone's place changes their list membership."""
    Attendee.objects.filter(pk=attendee.pk).update(place=place, sync_state=SyncState.PENDING)
    attendee.refresh_from_db()
    return attendee


def in_list(party: Party) -> list[str]:
    return [member["email"] for member in testing.list_members(party.klaviyo_list_id)]


def calls(method: str, prefix: str) -> int:
    return testing.call_count(method, prefix)


def subscribe_lists(sandbox) -> list[str | None]:
    """The list each subscribe job the product sent named (None: consent only)."""
    return [
        (json.loads(call.request.body)["data"].get("relationships") or {})
        .get("list", {})
        .get("data", {})
        .get("id")
        for call in sandbox.calls
        if call.request.method == "POST" and "subscription-bulk-create" in call.request.url
    ]


# --- Waitlisted and offered: in Klaviyo with their consent, not in the list --------------------


@pytest.mark.parametrize("place", [Place.WAITLISTED, Place.OFFERED])
def test_a_waitlisted_or_offered_attendee_has_consent_in_klaviyo_but_is_not_in_the_list(
    party, make_attendee, sandbox, place
):
    attendee = make_attendee(party, "wait@example.com", place=place, pet_name="Rex")

    run(party)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.CONSENTED
    assert attendee.get_sync_state_display() == "In Klaviyo, not in the list"
    profile = testing.profile("wait@example.com")
    assert (profile["consent"], profile["lists"]) == ("SUBSCRIBED", [])
    assert attendee.klaviyo_profile_id == profile["id"]
    assert in_list(party) == []
    assert (calls(*IMPORTS), calls(*SUBSCRIBES)) == (1, 1)
    assert subscribe_lists(sandbox) == [None]


def test_a_promoted_attendee_then_joins_the_list(party, make_attendee):
    attendee = make_attendee(party, "wait@example.com", place=Place.WAITLISTED)
    run(party)

    moved(attendee, Place.REGISTERED)
    run(party)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.SYNCED
    assert in_list(party) == ["wait@example.com"]


def test_consent_not_recorded_yet_stays_sent_then_is_read_again(party, make_attendee, settings):
    settings.SANDBOX_JOB_SECONDS = 5
    attendee = make_attendee(party, "wait@example.com", place=Place.WAITLISTED)

    run(party)
    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.SENT  # Klaviyo has not run the jobs yet

    let_time_pass(6)
    run(party)
    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.CONSENTED


def test_a_waitlisted_address_klaviyo_suppresses_is_shown_suppressed(party, make_attendee):
    testing.suppress("bounced@example.com", reason="HARD_BOUNCE")
    attendee = make_attendee(party, "bounced@example.com", place=Place.WAITLISTED)

    run(party)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.SUPPRESSED
    assert "bounced" in attendee.state_reason


# --- Cancelled: out of the list, consent untouched ------------------------------------------------


def synced(party: Party, make_attendee, email: str, **fields) -> Attendee:
    attendee = make_attendee(party, email, **fields)
    run(party)
    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.SYNCED
    testing.clear_calls()
    return attendee


def test_a_cancelled_member_is_removed_from_the_list_and_stays_subscribed(party, make_attendee):
    other = testing.create_list(name="Another party").id
    testing.clear_calls()
    attendee = synced(party, make_attendee, "gone@example.com")
    stays = synced(party, make_attendee, "stays@example.com")
    # The same person on another list of the account, which a cancellation never touches.
    profile_id = testing.profile("gone@example.com")["id"]
    testing.add_to_list(other, profile_id)

    moved(attendee, Place.CANCELLED)
    run(party)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.REMOVED
    assert attendee.get_sync_state_display() == "Removed from the list"
    assert attendee.synced_at is None
    assert in_list(party) == ["stays@example.com"]
    profile = testing.profile("gone@example.com")
    assert (profile["consent"], profile["suppression"], profile["lists"]) == (
        "SUBSCRIBED",
        None,
        [other],
    )
    # The known profile id: one removal call, no lookup, no import, no subscribe.
    assert calls(*REMOVALS) == 1
    assert calls("GET", f"/api/lists/{party.klaviyo_list_id}/profiles") == 1  # the read-back
    assert (calls(*IMPORTS), calls(*SUBSCRIBES)) == (0, 0)
    stays.refresh_from_db()
    assert stays.sync_state == SyncState.SYNCED


def test_a_cancelled_attendee_without_a_known_profile_id_is_looked_up_in_the_list(
    party, make_attendee
):
    attendee = synced(party, make_attendee, "gone@example.com")
    Attendee.objects.filter(pk=attendee.pk).update(klaviyo_profile_id="")

    moved(attendee, Place.CANCELLED)
    run(party)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.REMOVED
    assert attendee.klaviyo_profile_id == testing.profile("gone@example.com")["id"]
    assert in_list(party) == []
    assert calls(*REMOVALS) == 1


def test_a_cancelled_attendee_not_in_the_list_needs_no_removal_call(party, make_attendee):
    # Sent once as waitlisted (consent only), never in the list.
    attendee = make_attendee(party, "wait@example.com", place=Place.WAITLISTED)
    run(party)
    Attendee.objects.filter(pk=attendee.pk).update(klaviyo_profile_id="")
    testing.clear_calls()

    moved(attendee, Place.CANCELLED)
    run(party)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.REMOVED
    assert calls(*REMOVALS) == 0
    assert testing.profile("wait@example.com")["consent"] == "SUBSCRIBED"


def test_a_cancelled_attendee_never_sent_needs_no_call_at_all(party, make_attendee):
    attendee = make_attendee(party, "never@example.com", place=Place.CANCELLED)

    run(party)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.REMOVED
    assert "never in the list" in attendee.state_reason
    assert testing.calls() == []


def test_a_cancellation_after_a_send_not_yet_read_back_is_removed_for_real(
    party, make_attendee, settings
):
    """Subscribed but not seen in the list yet (no profile id, never synced): a run claimed
    them, so the removal is made, not skipped."""
    settings.SANDBOX_JOB_SECONDS = 5
    attendee = make_attendee(party, "quick@example.com")
    run(party)
    attendee.refresh_from_db()
    assert (attendee.sync_state, attendee.klaviyo_profile_id) == (SyncState.SENT, "")

    let_time_pass(6)  # Klaviyo runs the subscribe job: they are in the list
    moved(attendee, Place.CANCELLED)
    run(party)
    let_time_pass(6)
    run(party)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.REMOVED
    assert in_list(party) == []
    assert calls(*REMOVALS) == 1


def test_a_cancellation_polls_no_earlier_import_job(party, make_attendee, settings):
    settings.SANDBOX_JOB_SECONDS = 5
    attendee = make_attendee(party, "quick@example.com")
    run(party)
    attendee.refresh_from_db()
    assert attendee.import_job_id
    let_time_pass(6)
    testing.clear_calls()

    moved(attendee, Place.CANCELLED)
    run(party)
    let_time_pass(1)
    run(party)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.REMOVED
    assert calls("GET", "/api/profile-bulk-import-jobs/") == 0


def test_removed_then_registered_again_is_subscribed_again(party, make_attendee):
    attendee = synced(party, make_attendee, "back@example.com")
    moved(attendee, Place.CANCELLED)
    run(party)

    moved(attendee, Place.REGISTERED)
    run(party)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.SYNCED
    assert in_list(party) == ["back@example.com"]


def test_a_member_still_in_the_list_after_the_removal_is_removed_again_later(
    party, make_attendee, settings
):
    """Klaviyo ran a subscribe job of theirs after the removal: the read-back shows them in
    the list, so they stay sent, and are sent again once `sent_give_up` has passed."""
    attendee = synced(party, make_attendee, "racer@example.com")
    moved(attendee, Place.CANCELLED)
    settings.PARTY_VERIFY_INTERVAL_SECONDS = 1
    run(party)
    testing.add_to_list(party.klaviyo_list_id, attendee.klaviyo_profile_id)

    let_time_pass(1)
    run(party)
    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.SENT

    let_time_pass(11 * 60)
    run(party)
    attendee.refresh_from_db()
    assert (attendee.sync_state, attendee.state_reason) == (
        SyncState.PENDING,
        "Klaviyo had not taken them out of the list yet; sending again.",
    )
    run(party)
    let_time_pass(1)
    run(party)
    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.REMOVED
    assert in_list(party) == []


# --- A batch mixing places, and Klaviyo saying no ---------------------------------------------


def test_a_batch_mixing_places_keeps_one_call_of_each_kind(party, make_attendee, sandbox):
    leaving = [synced(party, make_attendee, f"leave{n}@example.com") for n in range(3)]
    for attendee in leaving:
        moved(attendee, Place.CANCELLED)
    for n in range(4):
        make_attendee(party, f"reg{n}@example.com")
    for n in range(3):
        make_attendee(party, f"wait{n}@example.com", place=Place.WAITLISTED)
    make_attendee(party, "offer@example.com", place=Place.OFFERED)
    make_attendee(party, "never@example.com", place=Place.CANCELLED)
    sandbox.calls.reset()

    run(party)

    states = dict(Attendee.objects.filter(party=party).values_list("email", "sync_state"))
    assert states == {
        **{f"leave{n}@example.com": SyncState.REMOVED for n in range(3)},
        **{f"reg{n}@example.com": SyncState.SYNCED for n in range(4)},
        **{f"wait{n}@example.com": SyncState.CONSENTED for n in range(3)},
        "offer@example.com": SyncState.CONSENTED,
        "never@example.com": SyncState.REMOVED,
    }
    assert (calls(*IMPORTS), calls(*SUBSCRIBES), calls(*REMOVALS)) == (1, 2, 1)
    sent_to = subscribe_lists(sandbox)
    assert len(sent_to) == 2
    assert set(sent_to) == {None, party.klaviyo_list_id}
    assert sorted(in_list(party)) == [f"reg{n}@example.com" for n in range(4)]


def test_a_throttled_removal_backs_off_and_loses_nothing(party, make_attendee):
    attendee = synced(party, make_attendee, "gone@example.com")
    moved(attendee, Place.CANCELLED)
    testing.start_throttle_storm(30)

    report = sync.party_sync(party_id=party.pk)

    attendee.refresh_from_db()
    assert report.outcome == "rate_limited"
    assert attendee.sync_state == SyncState.PENDING
    party.refresh_from_db()
    assert party.next_send_at is not None

    let_time_pass(31)
    run(party)
    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.REMOVED


def test_a_removal_during_an_outage_backs_off_and_loses_nothing(party, make_attendee):
    attendee = synced(party, make_attendee, "gone@example.com")
    moved(attendee, Place.CANCELLED)
    testing.start_outage(60)

    report = sync.party_sync(party_id=party.pk)

    attendee.refresh_from_db()
    party.refresh_from_db()
    assert report.outcome == "unavailable"
    assert (attendee.sync_state, party.sync_failures) == (SyncState.PENDING, 1)

    let_time_pass(61)
    run(party)
    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.REMOVED
    assert in_list(party) == []


def test_only_a_pending_cancellation_is_settled_without_a_call(party, make_attendee):
    """A cancelled attendee Klaviyo refused stays refused until the organizer retries."""
    attendee = make_attendee(
        party, "refused@example.com", place=Place.CANCELLED, sync_state=SyncState.FAILED
    )

    run(party)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.FAILED
