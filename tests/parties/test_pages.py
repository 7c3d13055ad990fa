"""The organizer's party pages: list, create, detail with attendees, edit, close, delete,
retry, CSV export and reconciliation; who may do what; and tenant isolation."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django_tasks_db.models import DBTaskResult

from accounts.models import Role
from integrations.models import ConnectionStatus
from klaviyo_sandbox import testing
from klaviyo_sandbox.models import KlaviyoList
from klaviyo_sandbox.routers import DATABASE as SANDBOX_DB
from parties import services
from parties.models import Attendee, ListState, Party, SyncState
from tests.support.downloads import read_csv
from tests.support.parties import PARTY_FORM, STARTS_AT, local_input
from tests.support.signups import signup
from tests.support.workers import run_queued_tasks

pytestmark = pytest.mark.django_db
with_sandbox = pytest.mark.django_db(databases=["default", "sandbox"])


@pytest.fixture(autouse=True)
def fast_klaviyo(settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


@pytest.fixture
def party(owner, make_party) -> Party:
    return make_party(owner.organization, name="Howl-o-ween")


def detail_url(party: Party) -> str:
    return reverse("parties:party_detail", args=[party.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- List -------------------------------------------------------------------------------------


def test_nav_bar_links_parties_first(login, owner):
    page = login(owner).get(reverse("home"))

    nav = page.text.split('class="nav-links"')[1]
    assert nav.index("/parties/") < nav.index("/settings/integrations/")


def test_party_list_shows_each_party_with_counts_by_sync_state(login, owner, party, make_attendee):
    for state in [
        SyncState.SYNCED,
        SyncState.SYNCED,
        SyncState.PENDING,
        SyncState.SENT,
        SyncState.AWAITING_CONFIRMATION,
        SyncState.FAILED,
        SyncState.SUPPRESSED,
    ]:
        make_attendee(party, sync_state=state)

    page = login(owner).get(reverse("parties:party_list"))

    assert page.status_code == 200
    row = page.text.split("Howl-o-ween")[1].split("</tr>")[0]
    cells = dict(re.findall(r'<td class="num" data-label="([^"]+)">(.*?)</td>', row))
    assert cells.pop("Not in the list") == "2"  # rejected or suppressed
    assert cells == {
        "Signups": "7",
        "In the list": "2",
        "On the way": "2",  # waiting or sent
        "Awaiting confirmation": "1",
    }


def test_party_list_shows_only_the_organizations_own_parties(login, owner, party, make_party):
    stranger = make_party(name="Someone else's bash")

    page = login(owner).get(reverse("parties:party_list"))

    assert party.name in page.text
    assert stranger.name not in page.text


def test_members_see_parties_but_not_the_new_party_button(login, make_member, party):
    member = make_member(role=Role.MEMBER, organization=party.organization)

    page = login(member).get(reverse("parties:party_list"))

    assert page.status_code == 200
    assert party.name in page.text
    assert reverse("parties:party_create") not in page.text


def test_visitors_are_sent_to_log_in(client, party):
    response = client.get(detail_url(party))

    assert response.status_code == 302
    assert "/login/" in response.url


# --- Create -----------------------------------------------------------------------------------


def test_new_party_without_a_connection_says_to_connect_klaviyo_first(login, owner):
    page = login(owner).get(reverse("parties:party_create"))

    assert page.status_code == 200
    assert "Connect Klaviyo first" in page.text
    assert 'href="/settings/integrations/"' in page.text
    assert "<form" not in page.text.split('id="main"')[1]


def test_new_party_without_an_active_connection_says_to_connect_first(
    login, owner, make_connection
):
    make_connection(owner.organization, status=ConnectionStatus.NEEDS_RECONNECT)

    page = login(owner).get(reverse("parties:party_create"))

    assert "Connect Klaviyo first" in page.text


@with_sandbox
def test_creating_a_party_creates_its_klaviyo_list(login, owner, sandbox, sandbox_connection):
    sandbox_connection(owner.organization)
    client = login(owner)

    response = client.post(reverse("parties:party_create"), PARTY_FORM, follow=True)

    party = Party.objects.get()
    assert response.redirect_chain == [(detail_url(party), 302)]
    assert party.organization == owner.organization
    assert party.created_by == owner.user
    assert party.starts_at == STARTS_AT
    assert testing.call_count("POST", "/api/lists") == 0  # not in the organizer's request
    assert party.list_state == ListState.PENDING
    assert "goes to Klaviyo once the party's list is ready" in " ".join(messages_of(response))
    assert "List being created" in response.text

    run_queued_tasks()

    party.refresh_from_db()
    assert party.list_state == ListState.READY
    klaviyo_list = KlaviyoList.objects.using(SANDBOX_DB).get(id=party.klaviyo_list_id)
    assert klaviyo_list.name == "Howl-o-ween"
    assert klaviyo_list.opt_in_process == "single_opt_in"
    assert party.klaviyo_opt_in_process == "single_opt_in"


@with_sandbox
def test_a_double_opt_in_party_gets_a_double_opt_in_list(login, owner, sandbox, sandbox_connection):
    sandbox_connection(owner.organization)

    login(owner).post(
        reverse("parties:party_create"), {**PARTY_FORM, "opt_in_process": "double_opt_in"}
    )
    run_queued_tasks()

    party = Party.objects.get()
    assert party.opt_in_process == "double_opt_in"
    klaviyo_list = KlaviyoList.objects.using(SANDBOX_DB).get(id=party.klaviyo_list_id)
    assert klaviyo_list.opt_in_process == "double_opt_in"
    page = login(owner).get(detail_url(party))
    assert "Double opt-in" in page.text
    assert "as Klaviyo reports it" in page.text


@with_sandbox
def test_creating_a_party_while_klaviyo_is_down_saves_it_and_says_so(
    login, owner, sandbox, sandbox_connection
):
    sandbox_connection(owner.organization)
    testing.start_outage(600)

    client = login(owner)
    response = client.post(reverse("parties:party_create"), PARTY_FORM, follow=True)
    run_queued_tasks()

    assert response.status_code == 200
    party = Party.objects.get()
    party.refresh_from_db()
    assert party.list_state == ListState.PENDING
    page = client.get(detail_url(party))
    assert "not created yet" in page.text
    assert "Signups are kept" in page.text


def test_new_party_form_asks_which_klaviyo_account_when_there_are_several(
    login, owner, make_connection
):
    first = make_connection(owner.organization)
    second = make_connection(owner.organization)
    make_connection(owner.organization, status=ConnectionStatus.REVOKED)

    page = login(owner).get(reverse("parties:party_create"))

    assert 'name="connection"' in page.text
    options = page.text.split('name="connection"')[1].split("</select>")[0]
    assert options.count("<option") == 3  # the prompt and the two active accounts
    assert first.display_name in options
    assert second.display_name in options


def test_new_party_form_refuses_another_organizations_connection(login, owner, make_connection):
    make_connection(owner.organization)
    make_connection(owner.organization)
    foreign = make_connection()

    response = login(owner).post(
        reverse("parties:party_create"), {**PARTY_FORM, "connection": foreign.pk}
    )

    assert response.status_code == 400
    assert "Choose one of your connected Klaviyo accounts." in response.text
    assert not Party.objects.exists()


def test_new_party_form_shows_each_error_next_to_its_field(login, owner, make_connection):
    make_connection(owner.organization)

    response = login(owner).post(
        reverse("parties:party_create"),
        {**PARTY_FORM, "name": "", "starts_at": "next Tuesday", "city": "x" * 101},
    )

    assert response.status_code == 400
    assert "Give the party a name." in response.text
    assert "Enter a date and time" in response.text
    assert "Use at most 100 characters (this has 101)." in response.text
    assert not Party.objects.exists()


# --- Detail -----------------------------------------------------------------------------------


def test_party_page_shows_details_public_link_and_counts(login, owner, party, make_attendee):
    make_attendee(party, email="rex@example.com", sync_state=SyncState.SYNCED)
    make_attendee(party, email="tom@example.com", sync_state=SyncState.PENDING)

    page = login(owner).get(detail_url(party))

    assert page.status_code == 200
    public_url = f"http://testserver/p/{party.slug}/"
    assert f'value="{public_url}" readonly' in page.text
    assert 'data-copy="public-url"' in page.text
    assert "js/copy.js" in page.text
    assert "1 Bark Street" in page.text
    assert "rex@example.com" in page.text
    assert "tom@example.com" in page.text
    counts = page.context["counts"]
    assert (counts["pending"], counts["synced"], counts["failed"]) == (1, 1, 0)
    assert (counts["total"], counts["in_flight"], counts["not_in_list"]) == (2, 1, 0)
    assert page.context["state_summary"] == [
        ("pending", "Waiting", 1),
        ("syncing", "Sending", 0),
        ("sent", "Sent to Klaviyo", 0),
        ("synced", "In the list", 1),
        ("consented", "In Klaviyo, not in the list", 0),
        ("awaiting_confirmation", "Awaiting confirmation", 0),
        ("suppressed", "Suppressed by Klaviyo", 0),
        ("failed", "Rejected by Klaviyo", 0),
        ("not_confirmed", "Did not confirm", 0),
        ("removed", "Removed from the list", 0),
    ]


def test_attendees_are_paginated_fifty_per_page(login, owner, party, make_attendee):
    for number in range(120):
        make_attendee(party, email=f"guest{number:03d}@example.com")
    client = login(owner)

    first = client.get(detail_url(party))
    third = client.get(detail_url(party), {"page": 3})

    assert len(first.context["page_obj"]) == 50
    assert "Page 1 of 3" in first.text
    assert "?page=2" in first.text
    assert len(third.context["page_obj"]) == 20


@pytest.mark.parametrize("page", ["0", "999", "abc", "-1"])
def test_a_bad_page_number_shows_a_page_anyway(login, owner, party, make_attendee, page):
    make_attendee(party)

    response = login(owner).get(detail_url(party), {"page": page})

    assert response.status_code == 200
    assert len(response.context["page_obj"]) == 1


def test_attendees_search_by_email(login, owner, party, make_attendee):
    make_attendee(party, email="rex.owner@example.com")
    make_attendee(party, email="tom@example.com")

    page = login(owner).get(detail_url(party), {"q": "REX"})

    assert [a.email for a in page.context["page_obj"]] == ["rex.owner@example.com"]


def test_attendees_filter_by_sync_state(login, owner, party, make_attendee):
    make_attendee(party, email="ok@example.com", sync_state=SyncState.SYNCED)
    make_attendee(party, email="bad@example.com", sync_state=SyncState.FAILED)

    page = login(owner).get(detail_url(party), {"state": "failed"})

    assert [a.email for a in page.context["page_obj"]] == ["bad@example.com"]


def test_pagination_links_keep_the_search_and_filter(login, owner, party, make_attendee):
    for number in range(60):
        make_attendee(party, email=f"rex{number}@example.com", sync_state=SyncState.FAILED)

    page = login(owner).get(detail_url(party), {"q": "rex", "state": "failed"})

    assert "?q=rex&amp;state=failed&amp;page=2" in page.text


def test_an_unknown_state_filter_shows_everyone(login, owner, party, make_attendee):
    make_attendee(party)
    make_attendee(party, sync_state=SyncState.SYNCED)

    page = login(owner).get(detail_url(party), {"state": "<script>"})

    assert page.status_code == 200
    assert len(page.context["page_obj"]) == 2


def test_failed_attendee_shows_klaviyo_reason_and_a_retry_button(
    login, owner, party, make_attendee
):
    failed = make_attendee(
        party, sync_state=SyncState.FAILED, state_reason="Invalid email address (at /email)"
    )

    page = login(owner).get(detail_url(party))

    assert "Invalid email address (at /email)" in page.text
    assert reverse("parties:attendee_retry", args=[party.pk, failed.pk]) in page.text
    assert reverse("parties:party_retry_failed", args=[party.pk]) in page.text


def test_members_see_the_failure_reason_but_no_management_buttons(
    login, make_member, party, make_attendee
):
    member = make_member(role=Role.MEMBER, organization=party.organization)
    failed = make_attendee(party, sync_state=SyncState.FAILED, state_reason="Invalid email")

    page = login(member).get(detail_url(party))

    assert page.status_code == 200
    assert "Invalid email" in page.text
    assert reverse("parties:attendee_retry", args=[party.pk, failed.pk]) not in page.text
    assert reverse("parties:party_edit", args=[party.pk]) not in page.text
    assert reverse("parties:party_delete", args=[party.pk]) not in page.text


def test_party_page_says_syncing_is_paused_when_the_connection_needs_reconnecting(
    login, owner, make_party, make_connection
):
    connection = make_connection(owner.organization, status=ConnectionStatus.NEEDS_RECONNECT)
    party = make_party(connection=connection)

    page = login(owner).get(detail_url(party))

    assert "Syncing is paused" in page.text
    assert 'href="/settings/integrations/"' in page.text


def test_party_page_says_when_the_list_is_still_being_created(login, owner, make_party):
    party = make_party(
        owner.organization,
        list_state=ListState.PENDING,
        klaviyo_list_id="",
        list_error="Klaviyo is limiting list changes right now.",
    )

    page = login(owner).get(detail_url(party))

    assert "The Klaviyo list is not created yet" in page.text
    assert "Klaviyo is limiting list changes right now." in page.text


def test_party_page_says_when_the_list_could_not_be_created(login, owner, make_party):
    party = make_party(
        owner.organization, list_state=ListState.FAILED, klaviyo_list_id="", list_error="Bad name"
    )

    page = login(owner).get(detail_url(party))

    assert "The Klaviyo list could not be created: Bad name" in page.text


# --- Edit, close, delete ------------------------------------------------------------------------


def test_edit_form_is_filled_with_the_party(login, owner, party):
    page = login(owner).get(reverse("parties:party_edit", args=[party.pk]))

    assert page.status_code == 200
    assert 'value="Howl-o-ween"' in page.text
    assert f'value="{local_input(party.starts_at)}"' in page.text


@with_sandbox
def test_renaming_a_party_renames_its_klaviyo_list(login, owner, sandbox, sandbox_connection):
    connection = sandbox_connection(owner.organization)
    client = login(owner)
    client.post(reverse("parties:party_create"), PARTY_FORM)
    run_queued_tasks()
    party = Party.objects.get(connection=connection)

    response = client.post(
        reverse("parties:party_edit", args=[party.pk]), {**PARTY_FORM, "name": "Howl-o-ween 2"}
    )

    assert response.status_code == 302
    run_queued_tasks()
    party.refresh_from_db()
    assert party.name == "Howl-o-ween 2"
    assert KlaviyoList.objects.using(SANDBOX_DB).get(id=party.klaviyo_list_id).name == (
        "Howl-o-ween 2"
    )


def test_editing_with_bad_input_shows_errors_and_changes_nothing(login, owner, party):
    response = login(owner).post(
        reverse("parties:party_edit", args=[party.pk]), {**PARTY_FORM, "name": "n" * 10_000}
    )

    assert response.status_code == 400
    assert "Use at most 100 characters" in response.text
    party.refresh_from_db()
    assert party.name == "Howl-o-ween"


@pytest.mark.parametrize(("value", "is_open"), [("0", False), ("1", True)])
def test_signups_can_be_closed_and_reopened(login, owner, party, value, is_open):
    Party.objects.filter(pk=party.pk).update(signups_open=not is_open)

    response = login(owner).post(reverse("parties:party_signups", args=[party.pk]), {"open": value})

    assert response.status_code == 302
    party.refresh_from_db()
    assert party.signups_open is is_open


def test_signups_toggle_without_a_choice_changes_nothing(login, owner, party):
    response = login(owner).post(
        reverse("parties:party_signups", args=[party.pk]), {"open": "maybe"}, follow=True
    )

    assert response.status_code == 200
    assert "Choose whether to open or close signups." in messages_of(response)
    party.refresh_from_db()
    assert party.signups_open is True


def test_delete_page_asks_whether_to_delete_the_klaviyo_list_too(login, owner, party):
    page = login(owner).get(reverse("parties:party_delete", args=[party.pk]))

    assert page.status_code == 200
    assert 'name="delete_list"' in page.text
    assert Party.objects.filter(pk=party.pk).exists()


def test_deleting_a_party_keeps_its_klaviyo_list_unless_asked(login, owner, party, make_attendee):
    make_attendee(party)

    response = login(owner).post(reverse("parties:party_delete", args=[party.pk]))

    assert response.status_code == 302
    assert response.url == reverse("parties:party_list")
    assert not Party.objects.exists()
    assert not Attendee.objects.exists()


@with_sandbox
def test_deleting_a_party_can_delete_its_klaviyo_list(login, owner, sandbox, sandbox_connection):
    sandbox_connection(owner.organization)
    client = login(owner)
    client.post(reverse("parties:party_create"), PARTY_FORM)
    run_queued_tasks()
    party = Party.objects.get()

    response = client.post(
        reverse("parties:party_delete", args=[party.pk]), {"delete_list": "on"}, follow=True
    )

    assert not Party.objects.exists()
    assert "is being deleted in the background" in " ".join(messages_of(response))
    run_queued_tasks()
    assert not KlaviyoList.objects.using(SANDBOX_DB).filter(id=party.klaviyo_list_id).exists()


@with_sandbox
def test_deleting_a_party_when_klaviyo_is_down_deletes_the_list_once_it_is_back(
    login, owner, sandbox, sandbox_connection
):
    sandbox_connection(owner.organization)
    client = login(owner)
    client.post(reverse("parties:party_create"), PARTY_FORM)
    run_queued_tasks()
    party = Party.objects.get()
    testing.start_outage(600)

    response = client.post(
        reverse("parties:party_delete", args=[party.pk]), {"delete_list": "on"}, follow=True
    )
    run_queued_tasks()

    assert response.status_code == 200
    assert not Party.objects.exists()
    assert KlaviyoList.objects.using(SANDBOX_DB).filter(id=party.klaviyo_list_id).exists()
    testing.advance(601)
    run_queued_tasks(include_deferred=True)
    assert not KlaviyoList.objects.using(SANDBOX_DB).filter(id=party.klaviyo_list_id).exists()


# --- Retry --------------------------------------------------------------------------------------


def test_retry_puts_a_failed_attendee_back_in_the_queue(login, owner, party, make_attendee):
    failed = make_attendee(party, sync_state=SyncState.FAILED, state_reason="Invalid email")

    response = login(owner).post(
        reverse("parties:attendee_retry", args=[party.pk, failed.pk]), follow=True
    )

    assert response.status_code == 200
    failed.refresh_from_db()
    assert failed.sync_state == SyncState.PENDING
    assert failed.state_reason == ""
    assert f"{failed.email} will be sent to Klaviyo again shortly." in messages_of(response)


def test_retry_of_an_attendee_of_another_party_is_404(
    login, owner, party, make_party, make_attendee
):
    other_party = make_party(owner.organization)
    attendee = make_attendee(other_party, sync_state=SyncState.FAILED)

    response = login(owner).post(reverse("parties:attendee_retry", args=[party.pk, attendee.pk]))

    assert response.status_code == 404
    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.FAILED


def test_retry_all_failed_requeues_every_failed_attendee(login, owner, party, make_attendee):
    for _ in range(3):
        make_attendee(party, sync_state=SyncState.FAILED, state_reason="Invalid email")
    make_attendee(party, sync_state=SyncState.SYNCED)

    response = login(owner).post(
        reverse("parties:party_retry_failed", args=[party.pk]), follow=True
    )

    assert "3 rejected signups will be sent to Klaviyo again shortly." in messages_of(response)
    assert not party.attendees.filter(sync_state=SyncState.FAILED).exists()
    assert party.attendees.filter(sync_state=SyncState.SYNCED).count() == 1


def test_retry_all_failed_with_none_failed_says_so(login, owner, party):
    response = login(owner).post(
        reverse("parties:party_retry_failed", args=[party.pk]), follow=True
    )

    assert "No rejected signups to retry." in messages_of(response)


# --- CSV export ---------------------------------------------------------------------------------


def test_csv_export_streams_every_attendee_with_its_sync_state(login, owner, party, make_attendee):
    consented = timezone.now()
    wording = services.consent_wording_current(organization=party.organization, language="en")
    make_attendee(
        party,
        consent_wording=wording,
        signup_source="embedded",
        email="zoe@example.com",
        first_name="Zoë",
        last_name="Ñúñez",
        pet_name="Rex 🐶",
        pet_type="dog",
        consented_at=consented,
        sync_state=SyncState.SYNCED,
        synced_at=consented,
    )
    make_attendee(
        party, email="bad@example.com", sync_state=SyncState.FAILED, state_reason="Invalid email"
    )

    response = login(owner).get(reverse("parties:attendees_csv", args=[party.pk]))

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    # Named for a downloads folder: the party's name and the day.
    day = f"{timezone.localdate():%Y-%m-%d}"
    filename = f"{slugify(party.name)}-attendees-{day}.csv"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    rows = read_csv(response)
    assert rows[0] == [
        "email",
        "first_name",
        "last_name",
        "pet_name",
        "pet_type",
        "consented_at",
        "status",
        "status_reason",
        "sent_at",
        "in_list_since",
        "klaviyo_profile_id",
        "place",
        "waitlist_position",
        "marketing_consent",
        "consent_wording_version",
        "consent_wording",
        "signup_source",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "referrer_host",
        "checked_in_at",
        "walk_in",
    ]
    by_email = {row[0]: row for row in rows[1:]}
    assert by_email["zoe@example.com"] == [
        "zoe@example.com",
        "Zoë",
        "Ñúñez",
        "Rex 🐶",
        "dog",
        consented.replace(microsecond=0).isoformat(),  # to the second
        "In the list",
        "",
        "",
        consented.replace(microsecond=0).isoformat(),
        "",
        "Registered",
        "",
        "yes",
        "1",
        wording.marketing,  # the words they were shown
        "Embedded form",
        "",
        "",
        "",
        "",
        "",  # not checked in at the door
        "no",
    ]
    assert by_email["bad@example.com"][6:8] == ["Rejected by Klaviyo", "Invalid email"]


@pytest.mark.parametrize("formula", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"])
def test_csv_export_defuses_cells_a_spreadsheet_would_run(
    login, owner, party, make_attendee, formula
):
    make_attendee(party, email="evil@example.com", first_name=formula, pet_name=formula)

    rows = read_csv(login(owner).get(reverse("parties:attendees_csv", args=[party.pk])))

    assert rows[1][1] == f"'{formula}"
    assert rows[1][3] == f"'{formula}"
    assert rows[1][0] == "evil@example.com"


def test_members_can_export_attendees(login, make_member, party, make_attendee):
    member = make_member(role=Role.MEMBER, organization=party.organization)
    make_attendee(party)

    response = login(member).get(reverse("parties:attendees_csv", args=[party.pk]))

    assert response.status_code == 200
    assert len(read_csv(response)) == 2


# --- Reconcile ----------------------------------------------------------------------------------


def test_reconcile_page_offers_a_button_and_calls_nobody(login, owner, party):
    page = login(owner).get(reverse("parties:party_reconcile", args=[party.pk]))

    assert page.status_code == 200
    assert "Check now" in page.text
    assert page.context["result"] is None


@with_sandbox
def test_reconcile_runs_in_the_background_and_shows_who_is_missing_on_either_side(
    login, owner, sandbox, sandbox_connection
):
    sandbox_connection(owner.organization)
    client = login(owner)
    client.post(reverse("parties:party_create"), PARTY_FORM)
    run_queued_tasks()
    party = Party.objects.get()
    for email in ["kept@example.com", "gone@example.com"]:
        signup(party, email)
    run_queued_tasks()
    Attendee.objects.filter(email="gone@example.com").delete()
    signup(party, "late@example.com")
    DBTaskResult.objects.all().delete()  # late@ is still waiting for its sync

    response = client.post(reverse("parties:party_reconcile", args=[party.pk]), follow=True)

    assert response.status_code == 200
    assert "Waiting to start" in response.text
    assert 'http-equiv="refresh"' in response.text  # the page follows the task
    run_queued_tasks()
    page = client.get(reverse("parties:party_reconcile", args=[party.pk]))
    result = page.context["result"]
    assert result.matched == 1
    assert 'http-equiv="refresh"' not in page.text
    rows = page.text.split("<tbody>")[1]
    assert (
        'late@example.com</span></td><td data-label="Difference">Not in the Klaviyo list</td>'
        '<td data-label="Status here">Waiting'
    ) in rows
    assert 'gone@example.com</span></td><td data-label="Difference">Only in Klaviyo' in rows
    csv_response = client.get(reverse("parties:reconcile_csv", args=[party.pk, result.pk]))
    assert read_csv(csv_response)[1:] == [
        ["late@example.com", "missing_in_klaviyo", "Waiting"],
        ["gone@example.com", "only_in_klaviyo", ""],
    ]


@with_sandbox
def test_reconcile_when_klaviyo_is_down_shows_a_message_not_an_error_page(
    login, owner, sandbox, sandbox_connection
):
    sandbox_connection(owner.organization)
    client = login(owner)
    client.post(reverse("parties:party_create"), PARTY_FORM)
    run_queued_tasks()
    party = Party.objects.get()
    testing.start_outage(600)

    client.post(reverse("parties:party_reconcile", args=[party.pk]))
    run_queued_tasks()
    page = client.get(reverse("parties:party_reconcile", args=[party.pk]))

    assert page.status_code == 200
    assert "Klaviyo could not be asked for the list" in page.text
    assert page.context["result"].status == "failed"


def test_reconcile_with_a_connection_needing_reconnect_says_so(
    login, owner, make_party, make_connection
):
    connection = make_connection(owner.organization, status=ConnectionStatus.NEEDS_RECONNECT)
    party = make_party(connection=connection)
    client = login(owner)

    client.post(reverse("parties:party_reconcile", args=[party.pk]))
    run_queued_tasks()
    page = client.get(reverse("parties:party_reconcile", args=[party.pk]))

    assert page.status_code == 200
    assert "Reconnect it on the Integrations page" in page.text


def test_a_reconcile_csv_of_another_party_is_a_404(login, owner, make_party):
    mine = make_party(owner.organization)
    other = make_party()
    theirs = services.reconciliation_request(party=other, user=owner.user)

    response = login(owner).get(reverse("parties:reconcile_csv", args=[mine.pk, theirs.pk]))

    assert response.status_code == 404


def test_reconcile_before_the_list_exists_says_so(login, owner, make_party):
    party = make_party(owner.organization, list_state=ListState.PENDING, klaviyo_list_id="")

    page = login(owner).post(reverse("parties:party_reconcile", args=[party.pk]), follow=True)

    assert page.status_code == 200
    assert "This party has no Klaviyo list yet." in messages_of(page)


# --- Permissions and tenancy --------------------------------------------------------------------

PARTY_PAGES = [
    ("GET", "party_detail"),
    ("GET", "party_edit"),
    ("POST", "party_edit"),
    ("POST", "party_signups"),
    ("GET", "party_delete"),
    ("POST", "party_delete"),
    ("GET", "party_cancel"),
    ("POST", "party_cancel"),
    ("POST", "party_test_events"),
    ("GET", "attendees_csv"),
    ("GET", "party_reconcile"),
    ("POST", "party_reconcile"),
    ("POST", "party_retry_failed"),
    ("POST", "attendee_retry"),
]
MANAGEMENT = [
    ("GET", "party_create", False),
    ("POST", "party_create", False),
    ("GET", "party_edit", True),
    ("POST", "party_edit", True),
    ("POST", "party_signups", True),
    ("GET", "party_delete", True),
    ("POST", "party_delete", True),
    ("GET", "party_cancel", True),
    ("POST", "party_cancel", True),
    ("POST", "party_test_events", True),
    ("GET", "party_reconcile", True),
    ("POST", "party_reconcile", True),
    ("POST", "party_retry_failed", True),
    ("POST", "attendee_retry", True),
]


def url_for(name: str, party: Party, attendee: Attendee) -> str:
    if name == "attendee_retry":
        return reverse("parties:attendee_retry", args=[party.pk, attendee.pk])
    return reverse(f"parties:{name}", args=[party.pk])


@pytest.mark.parametrize(("method", "name"), PARTY_PAGES)
def test_another_organizations_party_is_404_everywhere(
    login, owner, make_party, make_attendee, method, name
):
    foreign = make_party(name="Their party")
    attendee = make_attendee(foreign, sync_state=SyncState.FAILED)
    url = url_for(name, foreign, attendee)

    response = getattr(login(owner), method.lower())(url, {**PARTY_FORM, "open": "0"})

    assert response.status_code == 404
    assert "Their party" not in response.text
    foreign.refresh_from_db()
    assert foreign.signups_open is True
    assert not foreign.is_cancelled
    assert not foreign.events.exists()
    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.FAILED


@pytest.mark.parametrize(("method", "name", "takes_party"), MANAGEMENT)
def test_members_may_not_manage_parties(
    login, make_member, party, make_attendee, method, name, takes_party
):
    member = make_member(role=Role.MEMBER, organization=party.organization)
    attendee = make_attendee(party, sync_state=SyncState.FAILED)
    url = url_for(name, party, attendee) if takes_party else reverse(f"parties:{name}")

    response = getattr(login(member), method.lower())(url, {**PARTY_FORM, "open": "0"})

    assert response.status_code == 403
    party.refresh_from_db()
    assert party.name == "Howl-o-ween"
    assert party.signups_open is True
    assert not party.is_cancelled
    assert not party.events.exists()
    assert Party.objects.count() == 1
    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.FAILED


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_owners_and_admins_may_manage_parties(login, make_member, party, role):
    manager = make_member(role=role, organization=party.organization)

    response = login(manager).get(reverse("parties:party_edit", args=[party.pk]))

    assert response.status_code == 200


@pytest.mark.parametrize(
    "name", ["party_signups", "party_retry_failed", "attendee_retry", "party_test_events"]
)
def test_actions_refuse_get(login, owner, party, make_attendee, name):
    attendee = make_attendee(party, sync_state=SyncState.FAILED)

    response = login(owner).get(url_for(name, party, attendee))

    assert response.status_code == 405
