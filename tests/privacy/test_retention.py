"""Retention: an organization's limit erases its attendees' details that long after their
party ends, and not before; the counts stay, and nothing of theirs is left in any table, log
or queued task. The clock is moved, not waited for."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from klaviyo_sandbox import testing
from parties import services as party_services
from parties.models import Attendee, Party, Place
from privacy import erasure
from privacy.models import PrivacyRecord, RequestKind
from privacy.tasks import privacy_sweep
from tests.privacy.test_erasure import text_rows_holding
from tests.support.parties import PARTY
from tests.support.signups import signup
from tests.support.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


@pytest.fixture(autouse=True)
def no_window(settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


@pytest.fixture
def ended_party(owner, sandbox, sandbox_connection) -> Party:
    """A party whose guests signed up and reached its list, then it took place."""
    owner.organization.attendee_retention_days = 30
    owner.organization.save()
    party = party_services.party_create(
        membership=owner, connection=sandbox_connection(owner.organization), data=PARTY
    )
    run_queued_tasks()
    for name in ("ada", "bo"):
        signup(party, f"{name}.kept@example.com", last_name="Retainedsson")
    run_queued_tasks(include_deferred=True)
    party.refresh_from_db()
    assert len(testing.list_members(party.klaviyo_list_id)) == 2
    return party


def ended(party: Party, days_ago: float) -> None:
    end = timezone.now() - timedelta(days=days_ago)
    Party.objects.filter(pk=party.pk).update(starts_at=end - timedelta(hours=3), ends_at=end)


def test_details_are_erased_after_the_limit_and_nothing_of_them_is_left(ended_party, caplog):
    ended(ended_party, days_ago=31)
    caplog.set_level(logging.DEBUG)

    privacy_sweep.call(reschedule=False)
    run_queued_tasks(include_deferred=True)  # the party's sync takes them out of the list
    privacy_sweep.call(reschedule=False)

    for needle in ("kept@example.com", "Retainedsson"):
        # Every table of the product, queued and finished tasks' arguments included.
        assert text_rows_holding(needle) == [], needle
        assert needle not in caplog.text
    assert testing.list_members(ended_party.klaviyo_list_id) == []
    # The party's history stays: two registrations, as they were.
    assert list(ended_party.attendees.values_list("place", flat=True)) == [Place.REGISTERED] * 2
    record = PrivacyRecord.objects.get()
    assert (record.kind, record.records, record.email_digest) == (RequestKind.RETENTION, 2, "")


def test_nothing_is_erased_before_the_limit(ended_party):
    ended(ended_party, days_ago=29)

    assert erasure.retention_apply() == 0
    assert Attendee.objects.filter(erased_at__isnull=True).count() == 2


def test_without_a_limit_nothing_is_erased(ended_party):
    ended(ended_party, days_ago=3650)
    ended_party.organization.attendee_retention_days = None
    ended_party.organization.save()

    assert erasure.retention_apply() == 0


def test_an_upcoming_party_is_never_erased_by_retention(ended_party):
    assert erasure.retention_apply() == 0  # it has not even started


def test_the_pass_queues_the_next_one(ended_party):
    from django_tasks_db.models import DBTaskResult

    privacy_sweep.call()

    assert DBTaskResult.objects.filter(task_path=privacy_sweep.module_path).count() == 1


def test_the_party_page_says_when_its_attendees_details_are_erased(login, owner, make_party):
    owner.organization.attendee_retention_days = 90
    owner.organization.save()
    party = make_party(owner.organization)
    erased_on = party.ends_at_or_default + timedelta(days=90)

    page = login(owner).get(f"/parties/{party.pk}/").text

    assert f"Erased on {erased_on:%-d %B %Y}" in page
    assert "keeps them 90 days after a party" in page


def test_the_schedule_command_queues_the_personal_data_pass_once():
    from django.core.management import call_command
    from django_tasks_db.models import DBTaskResult

    call_command("klaviyo_sync", "--schedule", verbosity=0)
    call_command("klaviyo_sync", "--schedule", verbosity=0)

    assert DBTaskResult.objects.filter(task_path=privacy_sweep.module_path).count() == 1


def test_an_admin_sets_the_retention_limit_in_the_settings(login, owner, make_member):
    admin = make_member(role="admin", organization=owner.organization)
    form = {"name": owner.organization.name, "time_zone": "UTC", "reminder_hours": "24"}
    client = login(admin)

    saved = client.post("/organization/settings/", {**form, "attendee_retention_days": "90"})
    refused = client.post("/organization/settings/", {**form, "attendee_retention_days": "0"})
    owner.organization.refresh_from_db()
    kept = owner.organization.attendee_retention_days
    client.post("/organization/settings/", {**form, "attendee_retention_days": ""})
    owner.organization.refresh_from_db()

    assert saved.status_code == 302
    assert refused.status_code == 400
    assert "Keep them at least 1 day" in refused.text
    assert kept == 90
    assert owner.organization.attendee_retention_days is None  # emptied: kept until erased
