"""A rush through the real public form: nothing is lost and it leaves in one batch."""

from __future__ import annotations

import pytest
from django.test import Client

from klaviyo_sandbox import testing
from parties.models import Attendee, Party, SyncState
from tests.support.signups import post_signup
from tests.support.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])
RUSH = 1000


@pytest.fixture
def party(sandbox_party, settings) -> Party:
    settings.SIGNUP_RATE_PER_IP = "100000/m"
    settings.SIGNUP_RATE_PER_PARTY = "100000/m"
    return sandbox_party


def test_a_thousand_signups_through_the_form_sync_in_one_batch_of_two_calls(party):
    browser = Client()
    for number in range(RUSH):
        response = post_signup(
            browser,
            party,
            first_name="Guest",
            last_name=f"Nr {number}",
            email=f"guest{number}@example.com",
            pet_name=f"Pet {number}",
            pet_type="cat" if number % 2 else "dog",
        )
        assert response.status_code == 303, response.content[:300]
    assert Attendee.objects.filter(party=party, sync_state=SyncState.PENDING).count() == RUSH
    assert testing.call_count("POST", "/api/profile-bulk-import-jobs") == 0  # no worker yet

    run_queued_tasks(include_deferred=True)  # the worker starts

    assert Attendee.objects.filter(party=party, sync_state=SyncState.SYNCED).count() == RUSH
    assert testing.call_count("POST", "/api/profile-bulk-import-jobs") == 1
    assert testing.call_count("POST", "/api/profile-subscription-bulk-create-jobs") == 1
    members = testing.list_members(party.klaviyo_list_id)
    assert len(members) == RUSH
    assert {member["consent"] for member in members} == {"SUBSCRIBED"}
    assert members[7]["properties"] == {"pet_name": "Pet 7", "pet_type": "cat"}
