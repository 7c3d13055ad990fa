"""How the sync treats Klaviyo's answers, with Klaviyo mocked by `responses`."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from parties import services, sync, tasks
from parties.models import Attendee, ListState, Party, Place, SyncState
from tests.support.signups import signup

API = "https://klaviyo.test/api"


@pytest.fixture(autouse=True)
def klaviyo_at_test_host(settings):
    settings.KLAVIYO_BASE_URL = "https://klaviyo.test"
    settings.KLAVIYO_MAX_RETRY_WAIT = 0
    settings.KLAVIYO_MAX_RETRIES = 0
    settings.PARTY_SYNC_WINDOW_SECONDS = 0


@pytest.fixture
def party(owner, make_connection) -> Party:
    return Party.objects.create(
        organization=owner.organization,
        connection=make_connection(owner.organization),
        name="Pawty",
        starts_at=timezone.now() + timedelta(days=3),
        address="1 Main St",
        city="Boston",
        state="MA",
        klaviyo_list_id="LIST01",
        klaviyo_list_name="Pawty",
        list_state=ListState.READY,
    )


def invalid(pointer: str, detail: str) -> dict:
    return {
        "errors": [
            {
                "id": "x",
                "status": 400,
                "code": "invalid",
                "title": "Invalid input.",
                "detail": detail,
                "source": {"pointer": pointer},
            }
        ]
    }


@pytest.mark.django_db
@responses.activate
def test_one_rejected_profile_fails_only_that_attendee(party):
    for number in range(3):
        signup(party, f"a{number}@example.com")
    responses.post(
        f"{API}/profile-bulk-import-jobs/",
        status=400,
        json=invalid("/data/attributes/profiles/data/1/attributes/email", "Invalid email address"),
    )
    responses.post(
        f"{API}/profile-bulk-import-jobs/",
        status=202,
        json={"data": {"type": "profile-bulk-import-job", "id": "JOB1", "attributes": {}}},
    )
    responses.post(f"{API}/profile-subscription-bulk-create-jobs/", status=202)

    report = sync.party_sync(party_id=party.pk)

    assert (report.sent, report.failed) == (2, 1)
    failed = Attendee.objects.get(sync_state=SyncState.FAILED)
    assert failed.email == "a1@example.com"
    assert failed.state_reason == "Invalid email address"
    # Its own data was refused: sending it again would be refused again, so no retry.
    assert failed.refused_as_sent
    assert not failed.retry_can_help
    retried = json.loads(responses.calls[1].request.body)["data"]["attributes"]["profiles"]
    assert [p["attributes"]["email"] for p in retried["data"]] == [
        "a0@example.com",
        "a2@example.com",
    ]
    subscribed = json.loads(responses.calls[2].request.body)["data"]["attributes"]["profiles"]
    assert len(subscribed["data"]) == 2


@pytest.mark.django_db
@responses.activate
def test_rejection_without_a_profile_pointer_fails_the_batch_with_the_reason(party):
    for number in range(2):
        signup(party, f"a{number}@example.com")
    responses.post(
        f"{API}/profile-bulk-import-jobs/", status=400, json=invalid("/data", "Malformed body")
    )

    sync.party_sync(party_id=party.pk)

    # Klaviyo pointed at no one: each is worth a retry once the cause is fixed.
    assert set(Attendee.objects.values_list("sync_state", "state_reason", "refused_as_sent")) == {
        (SyncState.FAILED, "Malformed body", False)
    }


@pytest.mark.django_db
@responses.activate
def test_list_cap_keeps_the_party_with_a_pending_list_and_retries_later(owner, make_connection):
    responses.post(
        f"{API}/lists/",
        status=429,
        headers={"Retry-After": "3600"},
        json={"errors": [{"status": 429, "code": "throttled", "detail": "daily cap"}]},
    )
    data = {
        "name": "Capped",
        "starts_at": timezone.now() + timedelta(days=1),
        "address": "1 Main St",
        "city": "Boston",
        "state": "MA",
    }

    party = services.party_create(
        membership=owner, connection=make_connection(owner.organization), data=data
    )
    assert len(responses.calls) == 0  # the organizer's request never waits on Klaviyo
    DBTaskResult.objects.all().delete()

    tasks.sync_party.call(party_id=party.pk)

    party.refresh_from_db()
    assert party.list_state == ListState.PENDING
    assert "150 new lists a day" in party.list_error
    assert "about 60 minutes" in party.list_error
    retry = DBTaskResult.objects.get(
        task_path=tasks.sync_party.module_path, status=TaskResultStatus.READY
    )
    assert retry.run_after >= timezone.now() + timedelta(minutes=59)


@pytest.mark.django_db
@responses.activate
def test_klaviyo_refusing_the_list_marks_it_failed_with_the_reason(owner, make_connection):
    responses.post(
        f"{API}/lists/", status=400, json=invalid("/data/attributes/name", "Name is too long")
    )
    data = {
        "name": "Bad",
        "starts_at": timezone.now(),
        "address": "1 Main St",
        "city": "Boston",
        "state": "MA",
    }

    party = services.party_create(
        membership=owner, connection=make_connection(owner.organization), data=data
    )
    sync.party_sync(party_id=party.pk)

    party.refresh_from_db()
    assert party.list_state == ListState.FAILED
    assert party.list_error == "Name is too long"


@pytest.mark.django_db
def test_registering_a_signup_makes_no_http_call(party):
    """The request never waits for Klaviyo: registering makes no HTTP call at all."""
    with responses.RequestsMock() as mock:  # any HTTP call would fail the test
        attendee, created = services.attendee_register(
            party=party,
            data={"email": "x@example.com", "first_name": "X", "marketing_consent": True},
        )
        assert len(mock.calls) == 0
    assert created
    assert attendee.sync_state == SyncState.PENDING


# --- A read-back is never retried unchanged and never holds back sending --------------------

MEMBERS = f"{API}/lists/LIST01/profiles/"
TOO_LONG = "<html><head><title>Bad Request</title></head><body><h1><p>Bad Request</p></h1>"


def sent_a_while_ago(party: Party, count: int) -> list[Attendee]:
    """Attendees Klaviyo accepted an hour ago, whose membership is due to be read back."""
    attendees = [signup(party, f"a{number}@example.com") for number in range(count)]
    Attendee.objects.filter(pk__in=[a.pk for a in attendees]).update(
        sync_state=SyncState.SENT, sent_at=timezone.now() - timedelta(hours=1), attempts=1
    )
    return attendees


def accept_sends() -> None:
    responses.post(
        f"{API}/profile-bulk-import-jobs/",
        status=202,
        json={"data": {"type": "profile-bulk-import-job", "id": "JOB9", "attributes": {}}},
    )
    responses.post(f"{API}/profile-subscription-bulk-create-jobs/", status=202)
    job = {"type": "profile-bulk-import-job", "id": "JOB9", "attributes": {"status": "queued"}}
    responses.get(f"{API}/profile-bulk-import-jobs/JOB9/", json={"data": job})


def asked_about(request) -> list[str]:
    (expression,) = parse_qs(urlsplit(request.url).query)["filter"]
    return re.findall(r'"([^"]*)"', expression)


def member_reads() -> list[str]:
    return [call.request.url for call in responses.calls if call.request.url.startswith(MEMBERS)]


@pytest.mark.django_db
@responses.activate
def test_a_read_back_refused_as_too_long_is_not_retried_and_does_not_back_the_party_off(party):
    sent_a_while_ago(party, 4)
    newcomer = services.attendee_register(
        party=party, data={"email": "new@example.com", "first_name": "N", "marketing_consent": True}
    )[0]
    accept_sends()
    # gunicorn's answer to a request line over its limit: HTML, not Klaviyo's JSON.
    responses.get(MEMBERS, status=414, body=TOO_LONG, content_type="text/html")

    report = sync.party_sync(party_id=party.pk)

    party.refresh_from_db()
    newcomer.refresh_from_db()
    assert newcomer.sync_state == SyncState.SENT  # the rest of the party was sent
    assert report.outcome == "done"
    assert party.sync_failures == 0  # not counted as Klaviyo being down
    assert party.next_send_at <= timezone.now()  # and no backoff on sending
    # Read in halves down to one attendee, never the same request twice: 4 + 2 + 1 + 1 + ...
    reads = member_reads()
    assert len(reads) == 7
    assert len(set(reads)) == len(reads)
    refused = Attendee.objects.exclude(pk=newcomer.pk)
    assert {a.sync_state for a in refused} == {SyncState.FAILED}
    assert all("HTTP 414" in a.state_reason for a in refused)
    assert "Klaviyo refused a request reading back" in party.read_back_error
    assert report.failed == 4


@pytest.mark.django_db
@responses.activate
def test_a_read_back_refused_as_too_long_is_read_again_in_halves(party):
    sent_a_while_ago(party, 4)

    def refuse_more_than_two(request):
        emails = asked_about(request)
        if len(emails) > 2:
            return 414, {"Content-Type": "text/html"}, TOO_LONG
        members = [{"type": "profile", "id": f"P-{e}", "attributes": {"email": e}} for e in emails]
        return 200, {}, json.dumps({"data": members, "links": {"next": None}})

    responses.add_callback("GET", MEMBERS, callback=refuse_more_than_two)

    report = sync.party_sync(party_id=party.pk)

    assert set(Attendee.objects.values_list("sync_state", flat=True)) == {SyncState.SYNCED}
    assert report.confirmed == 4
    assert [len(asked_about(call.request)) for call in responses.calls] == [4, 2, 2]
    party.refresh_from_db()
    assert "414" in party.read_back_error  # it happened, and the organizer is told


@pytest.mark.django_db
@responses.activate
def test_a_refused_import_job_read_is_not_followed_again_and_membership_is_read(party):
    attendees = sent_a_while_ago(party, 2)
    Attendee.objects.update(import_job_id="JOB1")
    responses.get(f"{API}/profile-bulk-import-jobs/JOB1/", status=400, body="<h1>Bad</h1>")
    members = [
        {"type": "profile", "id": f"P{n}", "attributes": {"email": a.email}}
        for n, a in enumerate(attendees)
    ]
    responses.get(MEMBERS, json={"data": members, "links": {"next": None}})

    sync.party_sync(party_id=party.pk)

    assert set(Attendee.objects.values_list("sync_state", "import_job_id")) == {
        (SyncState.SYNCED, "")
    }
    job_reads = [c for c in responses.calls if "/profile-bulk-import-jobs/" in c.request.url]
    assert len(job_reads) == 1
    party.refresh_from_db()
    assert "reads the list to see who is in it" in party.read_back_error


@pytest.mark.django_db
@responses.activate
def test_a_read_back_klaviyo_cannot_answer_moves_neither_the_send_gate_nor_the_failures(party):
    sent_a_while_ago(party, 2)
    newcomer = services.attendee_register(
        party=party, data={"email": "new@example.com", "first_name": "N", "marketing_consent": True}
    )[0]
    accept_sends()
    responses.get(MEMBERS, status=503, json={"errors": [{"status": 503, "detail": "Down."}]})

    report = sync.party_sync(party_id=party.pk)

    party.refresh_from_db()
    newcomer.refresh_from_db()
    assert newcomer.sync_state == SyncState.SENT
    assert report.outcome == "read_back_waiting"
    assert (party.sync_failures, party.next_send_at <= timezone.now()) == (0, True)
    # Reading back is tried again later, not in a tight loop.
    assert report.next_run_at >= timezone.now() + timedelta(seconds=25)
    assert "did not answer" in party.read_back_error
    assert set(Attendee.objects.exclude(pk=newcomer.pk).values_list("sync_state", flat=True)) == {
        SyncState.SENT
    }


@pytest.mark.django_db
@responses.activate
def test_a_clean_read_back_takes_the_warning_off_the_party(party):
    attendees = sent_a_while_ago(party, 1)
    Party.objects.filter(pk=party.pk).update(read_back_error="Klaviyo refused a request.")
    member = {"type": "profile", "id": "P1", "attributes": {"email": attendees[0].email}}
    responses.get(MEMBERS, json={"data": [member], "links": {"next": None}})

    sync.party_sync(party_id=party.pk)

    party.refresh_from_db()
    assert party.read_back_error == ""
    assert Attendee.objects.get().sync_state == SyncState.SYNCED


@pytest.mark.django_db
def test_the_party_page_says_a_read_back_was_refused_and_what_happens_next(login, owner, party):
    party.read_back_error = (
        "Klaviyo refused a request reading back this party's signups (HTTP 414: Request-URI "
        "Too Long). Partyline does not send a refused request again unchanged: it asks about "
        "fewer signups at a time."
    )
    party.save()

    page = login(owner).get(reverse("parties:party_detail", args=[party.pk]))

    assert page.status_code == 200
    assert "Klaviyo refused a request reading back this party&#x27;s signups" in page.text
    assert "fewer signups at a time" in page.text


# --- Places: removals and consent Klaviyo refuses or delays ----------------------------------

REMOVAL_URL = f"{API}/lists/LIST01/relationships/profiles/"
MEMBERS_URL = f"{API}/lists/LIST01/profiles/"
NO_ONE = {"data": [], "links": {"next": None}}


def cancelled(make_attendee, party, email, **fields):
    """A cancelled attendee some run claimed before (so possibly in the list)."""
    return make_attendee(
        party, email, place=Place.CANCELLED, claimed_at=timezone.now(), attempts=1, **fields
    )


def consent_of(email: str, consent: str) -> dict:
    return {
        "type": "profile",
        "id": f"P-{email}",
        "attributes": {
            "email": email,
            "subscriptions": {"email": {"marketing": {"consent": consent}}},
        },
    }


@pytest.mark.django_db
@responses.activate
def test_a_removal_klaviyo_refuses_for_one_profile_fails_only_that_attendee(party, make_attendee):
    for number in range(3):
        cancelled(make_attendee, party, f"c{number}@example.com", klaviyo_profile_id=f"P{number}")
    responses.delete(REMOVAL_URL, status=400, json=invalid("/data/1/id", "Unknown profile"))
    responses.delete(REMOVAL_URL, status=204)
    responses.get(MEMBERS_URL, json=NO_ONE)

    sync.party_sync(party_id=party.pk)

    assert dict(Attendee.objects.values_list("email", "sync_state")) == {
        "c0@example.com": SyncState.REMOVED,
        "c1@example.com": SyncState.FAILED,
        "c2@example.com": SyncState.REMOVED,
    }
    assert Attendee.objects.get(email="c1@example.com").state_reason == "Unknown profile"
    again = json.loads(responses.calls[1].request.body)["data"]
    assert [item["id"] for item in again] == ["P0", "P2"]


@pytest.mark.django_db
@responses.activate
def test_a_list_lookup_klaviyo_refuses_fails_those_cancellations_and_removes_no_one(
    party, make_attendee
):
    for number in range(2):
        cancelled(make_attendee, party, f"c{number}@example.com")
    responses.get(MEMBERS_URL, status=400, json=invalid("/filter", "Filter too long"))

    sync.party_sync(party_id=party.pk)

    assert set(Attendee.objects.values_list("sync_state", "state_reason")) == {
        (SyncState.FAILED, "Filter too long")
    }
    assert [call.request.method for call in responses.calls] == ["GET"]


@pytest.mark.django_db
@responses.activate
def test_a_waitlisted_attendee_of_a_double_opt_in_list_awaits_then_is_consented(
    party, make_attendee
):
    Party.objects.filter(pk=party.pk).update(klaviyo_opt_in_process="double_opt_in")
    attendee = make_attendee(party, "wait@example.com", place=Place.WAITLISTED)
    responses.post(
        f"{API}/profile-bulk-import-jobs/",
        status=202,
        json={"data": {"type": "profile-bulk-import-job", "id": "JOB1", "attributes": {}}},
    )
    responses.post(f"{API}/profile-subscription-bulk-create-jobs/", status=202)
    responses.get(
        f"{API}/profile-bulk-import-jobs/JOB1/",
        json={
            "data": {
                "type": "profile-bulk-import-job",
                "id": "JOB1",
                "attributes": {"status": "complete"},
            }
        },
    )
    responses.get(
        f"{API}/profiles/", json={"data": [consent_of("wait@example.com", "NEVER_SUBSCRIBED")]}
    )

    sync.party_sync(party_id=party.pk)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.AWAITING_CONFIRMATION
    assert "confirm their consent" in attendee.state_reason
    subscribe = json.loads(responses.calls[1].request.body)["data"]
    assert "relationships" not in subscribe  # consent only: never the party's list

    Attendee.objects.filter(pk=attendee.pk).update(checked_at=None)
    responses.replace(
        responses.GET,
        f"{API}/profiles/",
        json={"data": [consent_of("wait@example.com", "SUBSCRIBED")]},
    )
    sync.party_sync(party_id=party.pk)

    attendee.refresh_from_db()
    assert (attendee.sync_state, attendee.klaviyo_profile_id) == (
        SyncState.CONSENTED,
        "P-wait@example.com",
    )


@pytest.mark.django_db
@responses.activate
def test_one_awaiting_confirmation_is_never_sent_again_from_a_consent_read(party, make_attendee):
    """A second send would be a second confirmation email: only the confirmation wait ends
    the awaiting (here the list reads single opt-in meanwhile, so no state follows from the
    consent read)."""
    attendee = make_attendee(
        party,
        "wait@example.com",
        place=Place.WAITLISTED,
        sync_state=SyncState.AWAITING_CONFIRMATION,
        sent_at=timezone.now() - timedelta(hours=1),
        attempts=1,
    )
    responses.get(
        f"{API}/profiles/", json={"data": [consent_of("wait@example.com", "NEVER_SUBSCRIBED")]}
    )

    sync.party_sync(party_id=party.pk)

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.AWAITING_CONFIRMATION
    assert attendee.checked_at is not None
