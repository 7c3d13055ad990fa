"""Bulk import and subscribe jobs are asynchronous, as in Klaviyo: accepted (202) at once,
applied once SANDBOX_JOB_SECONDS have passed on the sandbox clock, and applied only once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections

from klaviyo_sandbox import clock, testing
from klaviyo_sandbox.jobs import jobs_process_due
from klaviyo_sandbox.models import ImportJob, SubscriptionJob
from tests.support.sandbox_requests import api, import_body, subscribe_body


@pytest.fixture
def two_seconds(settings) -> float:
    settings.SANDBOX_JOB_SECONDS = 2.0
    return 2.0


def job_attributes(client, app, job_id: str) -> dict:
    response = api(client, "GET", f"profile-bulk-import-jobs/{job_id}", app)
    assert response.status_code == 200
    return response.json()["data"]["attributes"]


def test_an_import_job_reads_queued_then_processing_then_complete(client, app, two_seconds):
    created = api(
        client,
        "POST",
        "profile-bulk-import-jobs",
        app,
        import_body("AcmNws", [{"email": "rex@example.com"}, {"email": "tom@example.com"}]),
    )
    assert created.status_code == 202
    job = created.json()["data"]
    created_at = clock.now()
    assert job["attributes"]["status"] == "queued"
    assert job["attributes"]["started_at"] is None

    testing.advance(0.5)
    assert job_attributes(client, app, job["id"])["status"] == "queued"

    testing.advance(0.5)  # the second half of its time
    processing = job_attributes(client, app, job["id"])
    assert processing["status"] == "processing"
    assert processing["started_at"] == (created_at + timedelta(seconds=1)).isoformat()
    assert (processing["completed_count"], processing["completed_at"]) == (0, None)
    assert testing.list_members("AcmNws") == []

    testing.advance(1)
    complete = job_attributes(client, app, job["id"])
    assert complete["status"] == "complete"
    assert (complete["completed_count"], complete["failed_count"]) == (2, 0)
    assert complete["started_at"] == processing["started_at"]
    assert complete["completed_at"] is not None
    assert [m["email"] for m in testing.list_members("AcmNws")] == [
        "rex@example.com",
        "tom@example.com",
    ]


def test_a_subscribe_job_changes_nothing_until_its_time_has_passed(client, app, two_seconds):
    response = api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", ["a@example.com"]),
    )

    assert response.status_code == 202
    testing.advance(1.9)
    assert testing.list_members("AcmNws") == []
    testing.advance(0.1)
    assert [m["consent"] for m in testing.list_members("AcmNws")] == ["SUBSCRIBED"]


def test_with_no_processing_time_a_job_is_applied_on_the_next_read(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", ["a@example.com"]),
    )

    assert [m["email"] for m in testing.list_members("AcmNws")] == ["a@example.com"]


def test_a_rejected_request_stores_no_job(client, app):
    rejected = api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("nope00", ["a@example.com"]),
    )
    too_many = api(
        client,
        "POST",
        "profile-bulk-import-jobs",
        app,
        import_body(None, [{"email": f"p{i}@example.com"} for i in range(10_001)]),
    )

    assert (rejected.status_code, too_many.status_code) == (404, 400)
    assert not SubscriptionJob.objects.using("sandbox").exists()
    assert not ImportJob.objects.using("sandbox").exists()


def test_each_api_request_applies_only_its_own_accounts_jobs(client, app):
    bark = testing.install_app(account=testing.BARK)
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", ["a@example.com"]),
    )

    api(client, "GET", "accounts", bark)

    assert SubscriptionJob.objects.using("sandbox").get().processed_at is None
    api(client, "GET", "accounts", app)
    assert SubscriptionJob.objects.using("sandbox").get().processed_at is not None


def test_jobs_are_applied_in_creation_order_imports_and_subscriptions_interleaved(
    client, app, two_seconds
):
    # Both jobs are created at the same frozen instant and become due together; profile
    # ids are ULIDs, so the profile created first sorts first.
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body(None, ["zed@example.com"]),
    )
    api(
        client,
        "POST",
        "profile-bulk-import-jobs",
        app,
        import_body(None, [{"email": "amy@example.com"}]),
    )
    testing.advance(two_seconds)

    response = api(client, "GET", "profiles", app)

    emails = [item["attributes"]["email"] for item in response.json()["data"]]
    assert emails == ["zed@example.com", "amy@example.com"]


def appended_import(client, app) -> None:
    body = import_body("AcmNws", [{"email": "rex@example.com"}])
    body["data"]["attributes"]["profiles"]["data"][0]["meta"] = {
        "patch_properties": {"append": {"visits": "party"}}
    }
    assert api(client, "POST", "profile-bulk-import-jobs", app, body).status_code == 202


def test_a_job_is_applied_once_however_often_due_jobs_are_processed(client, app, two_seconds):
    appended_import(client, app)
    testing.advance(two_seconds)

    applied = [jobs_process_due() for _ in range(3)]

    assert applied == [1, 0, 0]
    [member] = testing.list_members("AcmNws")
    assert member["properties"] == {"visits": ["party"]}  # appended once, not three times


@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_concurrent_processors_apply_a_job_once(client, app, two_seconds):
    appended_import(client, app)
    testing.advance(two_seconds)

    def process(_: int) -> int:
        try:
            return jobs_process_due()
        finally:
            connections["sandbox"].close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        applied = list(pool.map(process, range(4)))

    assert sum(applied) == 1
    [member] = testing.list_members("AcmNws")
    assert member["properties"] == {"visits": ["party"]}


def test_a_subscription_whose_identifiers_belong_to_two_profiles_still_applies(client, app):
    for attributes in ({"email": "a@example.com"}, {"phone_number": "+15005550006"}):
        api(
            client, "POST", "profiles", app, {"data": {"type": "profile", "attributes": attributes}}
        )
    body = subscribe_body("AcmNws", ["a@example.com"])
    body["data"]["attributes"]["profiles"]["data"][0]["attributes"]["phone_number"] = "+15005550006"

    api(client, "POST", "profile-subscription-bulk-create-jobs", app, body)

    [member] = testing.list_members("AcmNws")
    assert (member["email"], member["consent"]) == ("a@example.com", "SUBSCRIBED")


def test_served_on_its_own_the_background_thread_applies_a_due_job_not_the_poller(
    client, app, two_seconds, settings
):
    """`manage.py sandbox_server` applies jobs in a thread, as Klaviyo does: a caller polling
    a big job reads "processing" at once instead of waiting in its request while it is
    applied."""
    settings.SANDBOX_JOBS_IN_BACKGROUND = True
    job = api(
        client,
        "POST",
        "profile-bulk-import-jobs",
        app,
        import_body("AcmNws", [{"email": "rex@example.com"}]),
    ).json()["data"]
    testing.advance(2)

    assert job_attributes(client, app, job["id"])["status"] == "processing"

    jobs_process_due()  # the server's thread, every JOB_POLL_SECONDS

    assert job_attributes(client, app, job["id"])["status"] == "complete"
