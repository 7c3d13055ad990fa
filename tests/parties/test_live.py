"""The live party page: the fragment it polls (tenant door, conditional responses, a constant
number of queries), the parts it marks live, and the sync's state in words on the party
pages, derived from what the engine records."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.models import Role
from core.templatetags.wording import clock
from integrations.klaviyo.errors import KlaviyoRateLimited, KlaviyoUnavailable
from integrations.models import ConnectionStatus
from parties import selectors
from parties.models import Attendee, ListState, Party, SyncState
from parties.sync.outcomes import stop_for
from tests.support.attendees import add_attendees

pytestmark = pytest.mark.django_db


@pytest.fixture
def party(owner, make_party) -> Party:
    return make_party(owner.organization, name="Howl-o-ween")


def live_url(party: Party) -> str:
    return reverse("parties:party_live", args=[party.pk])


def detail_url(party: Party) -> str:
    return reverse("parties:party_detail", args=[party.pk])


# --- The fragment ---------------------------------------------------------------------------


def test_live_fragment_has_the_counts_the_status_and_the_newest_signups(
    login, owner, party, make_attendee
):
    make_attendee(party, email="rex@example.com", sync_state=SyncState.PENDING)

    response = login(owner).get(live_url(party))

    assert response.status_code == 200
    text = response.text
    parts = ("badges", "status", "details", "counts", "attendee-actions", "attendees")
    for part in parts:
        assert f'id="live-{part}" data-live-part' in text
    assert "rex@example.com" in text
    assert "<dt>Waiting</dt><dd>1</dd>" in text
    assert "<html" not in text  # a fragment, not a page
    assert response["ETag"]
    assert "no-cache" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_the_details_are_live_and_follow_what_the_sync_learns(login, owner, make_party):
    party = make_party(
        owner.organization, list_state=ListState.PENDING, klaviyo_list_id="", last_synced_at=None
    )
    client = login(owner)
    before = client.get(live_url(party))
    assert "Klaviyo has not confirmed it yet" in before.text
    assert "not yet" in before.text.split("Last sync")[1]

    # What the sync records once the list exists and a run has finished.
    Party.objects.filter(pk=party.pk).update(
        list_state=ListState.READY,
        klaviyo_list_id="L1",
        klaviyo_opt_in_process="double_opt_in",
        last_synced_at=timezone.now(),
    )
    after = client.get(live_url(party), headers={"if-none-match": before["ETag"]})

    assert after.status_code == 200
    details = after.text.split('id="live-details"')[1].split("</dl>")[0]
    assert "Double opt-in" in details
    assert "as Klaviyo reports it" in details
    assert "not yet" not in details.split("Last sync")[1]
    assert "The Klaviyo list is not created yet" not in after.text


def test_another_organizations_party_is_a_404(login, make_member, party):
    stranger = make_member(role=Role.OWNER)

    response = login(stranger).get(live_url(party))

    assert response.status_code == 404


def test_a_member_without_manager_rights_can_read_it_without_retry_buttons(
    login, make_member, party, make_attendee
):
    member = make_member(role=Role.MEMBER, organization=party.organization)
    failed = make_attendee(party, sync_state=SyncState.FAILED, state_reason="Invalid email")

    response = login(member).get(live_url(party))

    assert response.status_code == 200
    assert "Invalid email" in response.text
    assert reverse("parties:attendee_retry", args=[party.pk, failed.pk]) not in response.text
    assert reverse("parties:party_retry_failed", args=[party.pk]) not in response.text


def test_a_visitor_is_sent_to_log_in(client, party):
    response = client.get(live_url(party))

    assert response.status_code == 302
    assert reverse("accounts:login") in response.url


def test_unchanged_party_answers_304_with_the_same_etag(login, owner, party, make_attendee):
    make_attendee(party, sync_state=SyncState.PENDING)
    client = login(owner)
    first = client.get(live_url(party))

    again = client.get(live_url(party), headers={"if-none-match": first["ETag"]})

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]


def test_the_page_carries_the_etag_so_its_first_poll_is_a_304(login, owner, party, make_attendee):
    make_attendee(party, sync_state=SyncState.SENT)
    client = login(owner)
    page = client.get(detail_url(party))
    etag = page.context["live_etag"]

    assert f'data-live-etag="{escape(etag)}"' in page.text
    assert client.get(live_url(party), headers={"if-none-match": etag}).status_code == 304


@pytest.mark.parametrize(
    "change",
    [
        "attendee_state",
        "new_signup",
        "list_ready",
        "connection_breaks",
        "signups_closed",
        "klaviyo_fails",
        "read_back_refused",
        "details_edited",
        "organization_reminders",
    ],
)
def test_any_change_the_page_shows_changes_the_etag(
    login, owner, make_party, make_attendee, change
):
    party = make_party(owner.organization, list_state=ListState.PENDING, klaviyo_list_id="")
    attendee = make_attendee(party, sync_state=SyncState.PENDING)
    client = login(owner)
    etag = client.get(live_url(party))["ETag"]

    if change == "attendee_state":
        Attendee.objects.filter(pk=attendee.pk).update(
            sync_state=SyncState.SENT, updated_at=timezone.now() + timedelta(seconds=1)
        )
    elif change == "new_signup":
        make_attendee(party, sync_state=SyncState.PENDING)
    elif change == "list_ready":
        Party.objects.filter(pk=party.pk).update(list_state=ListState.READY)
    elif change == "connection_breaks":
        party.connection.__class__.objects.filter(pk=party.connection_id).update(
            status=ConnectionStatus.NEEDS_RECONNECT
        )
    elif change == "signups_closed":
        Party.objects.filter(pk=party.pk).update(signups_open=False)
    elif change == "details_edited":
        Party.objects.filter(pk=party.pk).update(city="Boulder")
    elif change == "organization_reminders":
        party.organization.__class__.objects.filter(pk=party.organization_id).update(
            reminder_hours=[2]
        )
    elif change == "read_back_refused":
        Party.objects.filter(pk=party.pk).update(read_back_error="Klaviyo refused a read-back.")
    else:
        Party.objects.filter(pk=party.pk).update(
            list_state=ListState.READY,
            sync_failures=1,
            next_send_at=timezone.now() + timedelta(seconds=5),
        )

    response = client.get(live_url(party), headers={"if-none-match": etag})

    assert response.status_code == 200
    assert response["ETag"] != etag


def test_managers_and_members_get_different_etags(login, owner, make_member, party):
    member = make_member(role=Role.MEMBER, organization=party.organization)

    assert login(owner).get(live_url(party))["ETag"] != login(member).get(live_url(party))["ETag"]


def live_queries(client, party: Party, **headers: str) -> int:
    with CaptureQueriesContext(db_connection) as queries:
        response = client.get(live_url(party), headers=headers)
    assert response.status_code in (200, 304)
    return len(queries)


def test_the_fragment_costs_the_same_queries_at_100_and_at_10000_attendees(
    login, owner, make_party
):
    small = make_party(owner.organization)
    large = make_party(owner.organization)
    add_attendees(small, 100)
    add_attendees(large, 5_000)
    Attendee.objects.bulk_create(
        [
            Attendee(
                party=large,
                email=f"later{number}@example.com",
                first_name="Later",
                consented_at=timezone.now(),
                marketing_consent=True,
                sync_state=SyncState.PENDING,
            )
            for number in range(5_000)
        ],
        batch_size=1000,
    )
    assert large.attendees.count() == 10_000
    client = login(owner)
    live_queries(client, small)  # the session is warm for both

    at_100 = live_queries(client, small)
    at_10000 = live_queries(client, large)

    assert at_100 == at_10000
    etag_small = client.get(live_url(small))["ETag"]
    etag_large = client.get(live_url(large))["ETag"]
    assert live_queries(client, small, if_none_match=etag_small) == live_queries(
        client, large, if_none_match=etag_large
    )
    # A 304 skips the page of attendees.
    assert live_queries(client, large, if_none_match=etag_large) < at_10000


def test_polling_does_not_use_up_the_flash_messages(login, owner, party):
    client = login(owner)
    client.post(reverse("parties:party_signups", args=[party.pk]), {"open": "0"})

    client.get(live_url(party))
    page = client.get(detail_url(party))

    assert "Signups are closed" in page.text


# --- The page marks its live parts ----------------------------------------------------------


def test_party_page_loads_the_live_script_and_marks_its_live_parts(login, owner, party):
    page = login(owner).get(detail_url(party))

    text = page.text
    assert "js/party-live.js" in text
    assert f'data-live-url="{live_url(party)}"' in text
    assert 'id="live-counts" data-live-part aria-live="polite"' in text
    assert 'id="live-status" data-live-part aria-live="polite"' in text
    assert 'id="live-attendees" data-live-part>' in text
    # The table is not read out on every change.
    assert "aria-live" not in text.split('id="live-attendees"')[1].split("</section>")[0]


@pytest.mark.parametrize("query", ["?q=rex", "?state=failed", "?page=2"])
def test_a_filtered_or_later_page_keeps_its_table_still(login, owner, party, make_attendee, query):
    for _ in range(60):
        make_attendee(party)

    page = login(owner).get(detail_url(party) + query)

    assert 'id="live-attendees">' in page.text
    assert 'id="live-counts" data-live-part' in page.text


def test_the_unfiltered_page_counts_attendees_without_a_count_query(
    login, owner, party, make_attendee
):
    for _ in range(60):
        make_attendee(party)
    client = login(owner)

    with CaptureQueriesContext(db_connection) as queries:
        page = client.get(detail_url(party))

    assert "Page 1 of 2 (60 attendees)" in page.text
    # The counts by state already hold the total: the paginator runs no COUNT of its own.
    assert not [query for query in queries if '"__count"' in query["sql"]]


# --- The sync's state in words ----------------------------------------------------------------


def test_party_page_says_since_when_klaviyo_is_not_answering_and_when_it_tries_again(
    login, owner, party, make_attendee
):
    make_attendee(party, sync_state=SyncState.PENDING)
    # What the engine records when Klaviyo does not answer, twice in a row: the second try
    # comes once the first backoff (5 s) is over.
    failed_at = timezone.now() - timedelta(seconds=5)
    stop_for(party, KlaviyoUnavailable(detail="503"))
    Party.objects.filter(pk=party.pk).update(next_send_at=F("next_send_at") - timedelta(seconds=5))
    stop_for(party, KlaviyoUnavailable(detail="503"))
    party.refresh_from_db()

    page = login(owner).get(detail_url(party))

    health = page.context["health"]
    assert health.kind == selectors.SyncHealthKind.UNREACHABLE
    assert abs(health.since - failed_at) < timedelta(seconds=2)
    assert health.next_try == party.next_send_at
    assert (
        f"Klaviyo is not answering since {clock(health.since)}; next try at "
        f"{clock(party.next_send_at)}. Signups are kept."
    ) in page.text


def test_party_page_says_until_when_klaviyo_rate_limits_it(login, owner, party):
    stop_for(party, KlaviyoRateLimited(retry_after=120))
    party.refresh_from_db()

    page = login(owner).get(detail_url(party))

    assert (
        f"Klaviyo asked Partyline to slow down; sending resumes at {clock(party.next_send_at)}. "
        "Signups are kept."
    ) in page.text


def test_the_coalescing_window_is_not_a_rate_limit(login, owner, party, settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 2
    Party.objects.filter(pk=party.pk).update(next_send_at=timezone.now() + timedelta(seconds=2))

    page = login(owner).get(detail_url(party))

    assert "slow down" not in page.text
    assert "not answering" not in page.text


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (ConnectionStatus.REVOKED, "Syncing is stopped: the Klaviyo connection"),
        (ConnectionStatus.NEEDS_RECONNECT, "Syncing is paused: the Klaviyo connection"),
    ],
)
def test_party_pages_say_a_broken_connection_holds_the_signups(
    login, owner, make_party, make_connection, status, words
):
    connection = make_connection(
        owner.organization, status=status, last_error="Klaviyo rejected the refresh token"
    )
    party = make_party(connection=connection)
    client = login(owner)

    detail = client.get(detail_url(party)).text
    listing = client.get(reverse("parties:party_list")).text

    assert words in detail
    assert "Signups are kept" in detail
    assert "Signups are kept" in listing
    assert "reconnect" in listing


def test_party_page_says_signups_are_on_their_way(login, owner, party, make_attendee):
    make_attendee(party, sync_state=SyncState.SENT)

    page = login(owner).get(detail_url(party))

    assert "Signups are on their way to Klaviyo" in page.text


def test_parties_list_says_when_klaviyo_is_not_answering(login, owner, party):
    stop_for(party, KlaviyoUnavailable(detail="timeout"))
    party.refresh_from_db()

    page = login(owner).get(reverse("parties:party_list"))

    assert f"Klaviyo is not answering since {clock(party.next_send_at - timedelta(seconds=5))}" in (
        page.text
    )
    assert f"next try at {clock(party.next_send_at)}" in page.text


def test_an_outage_starts_no_earlier_than_klaviyos_last_answer(owner, party):
    # Four failures and a 40 s backoff: the estimate alone says the outage began ~35 s ago.
    Party.objects.filter(pk=party.pk).update(
        sync_failures=4, next_send_at=timezone.now() + timedelta(seconds=40)
    )
    party.refresh_from_db()
    party.connection.last_successful_call_at = timezone.now() - timedelta(seconds=3)

    health = selectors.party_health(party=party, in_flight=1)

    assert health.kind == selectors.SyncHealthKind.UNREACHABLE
    assert health.since == party.connection.last_successful_call_at


# --- One snapshot ----------------------------------------------------------------------------


@pytest.mark.skipif(
    db_connection.vendor != "postgresql",
    reason="a write committed between two reads of one request needs a database server",
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("view", ["party_live", "party_detail"])
def test_the_page_reads_one_moment_even_when_a_signup_commits_in_between(
    login, owner, make_party, make_attendee, monkeypatch, view
):
    party = make_party(owner.organization)
    make_attendee(party, email="first@example.com", sync_state=SyncState.PENDING)
    counted = selectors.party_snapshot

    def snapshot_then_a_signup_commits(*, party: Party) -> selectors.PartySnapshot:
        snapshot = counted(party=party)

        def sign_up() -> None:
            make_attendee(party, email="between@example.com", sync_state=SyncState.PENDING)
            db_connection.close()

        other = threading.Thread(target=sign_up)
        other.start()
        other.join()
        return snapshot

    monkeypatch.setattr(selectors, "party_snapshot", snapshot_then_a_signup_commits)

    text = login(owner).get(reverse(f"parties:{view}", args=[party.pk])).text

    # Counted before the signup committed, so its row is not shown beside those counts.
    assert "<dt>Total</dt><dd>1</dd>" in text
    assert "first@example.com" in text
    assert "between@example.com" not in text
    assert Attendee.objects.filter(party=party).count() == 2
