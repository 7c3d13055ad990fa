"""Operators' views of parties and attendees, and the "Retry sync" actions."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from parties import tasks
from parties.models import ListState, SyncState

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def queued_syncs() -> int:
    return DBTaskResult.objects.filter(
        task_path=tasks.sync_party.module_path, status=TaskResultStatus.READY
    ).count()


def column(listing: str, field: str) -> str:
    """What the changelist's first row shows in `field`'s column, as text."""
    cell = re.search(rf'<t[hd] class="field-{field}[ "][^>]*>(.*?)</t[hd]>', listing, re.S)
    assert cell, f"no {field} column"
    return re.sub(r"<[^>]+>", "", cell[1]).strip()


def shown_on_change_page(page: str, value: str) -> bool:
    """Whether the change page shows `value` in a field (read-only, or as an input's value)."""
    return f'<div class="readonly">{value}</div>' in page or f'value="{value}"' in page


@pytest.mark.parametrize(
    ("model", "columns"),
    [
        ("party", {"name": "Howl-o-ween", "list_state": "Ready"}),
        ("attendee", {"email": "rex@example.com", "state_reason": "Invalid email"}),
    ],
)
def test_operators_see_parties_and_attendees(
    staff_client, make_party, make_attendee, model, columns
):
    party = make_party(name="Howl-o-ween")
    attendee = make_attendee(party, email="rex@example.com", state_reason="Invalid email")
    obj = party if model == "party" else attendee
    change_url = reverse(f"admin:parties_{model}_change", args=[obj.pk])

    listing = staff_client.get(reverse(f"admin:parties_{model}_changelist"))
    change = staff_client.get(change_url)

    assert listing.status_code == 200
    assert change.status_code == 200
    assert {field: column(listing.text, field) for field in columns} == columns
    assert f'href="{change_url}"' in listing.text  # the row opens its page
    for value in columns.values():
        assert shown_on_change_page(change.text, value), value


def test_party_changelist_filters_and_searches(staff_client, make_party):
    make_party(name="Howl-o-ween")
    make_party(name="Paws Picnic", list_state=ListState.FAILED)

    found = staff_client.get(reverse("admin:parties_party_changelist"), {"q": "howl"})
    failed = staff_client.get(reverse("admin:parties_party_changelist"), {"list_state": "failed"})

    assert "Howl-o-ween" in found.text
    assert "Paws Picnic" not in found.text
    assert "Paws Picnic" in failed.text
    assert "Howl-o-ween" not in failed.text


def test_attendee_changelist_filters_by_sync_state_and_searches_email(
    staff_client, make_party, make_attendee
):
    party = make_party()
    make_attendee(party, email="ok@example.com", sync_state=SyncState.SYNCED)
    make_attendee(party, email="bad@example.com", sync_state=SyncState.FAILED)

    failed = staff_client.get(
        reverse("admin:parties_attendee_changelist"), {"sync_state": "failed"}
    )
    found = staff_client.get(reverse("admin:parties_attendee_changelist"), {"q": "ok@"})

    assert "bad@example.com" in failed.text
    assert "ok@example.com" not in failed.text
    assert "ok@example.com" in found.text
    assert "bad@example.com" not in found.text


def test_attendee_pipeline_fields_are_read_only(staff_client, make_party, make_attendee):
    attendee = make_attendee(make_party(), sync_state=SyncState.FAILED, state_reason="Bad")

    page = staff_client.get(reverse("admin:parties_attendee_change", args=[attendee.pk]))

    form_fields = page.context["adminform"].form.fields
    for name in ["sync_state", "attempts", "state_reason", "synced_at", "klaviyo_profile_id"]:
        assert name not in form_fields
    assert "party" in form_fields


def test_the_attendee_s_place_is_read_only_and_their_private_link_never_shown(
    staff_client, make_party, make_attendee
):
    attendee = make_attendee(make_party())

    page = staff_client.get(reverse("admin:parties_attendee_change", args=[attendee.pk]))

    form_fields = page.context["adminform"].form.fields
    for name in ["place", "waitlisted_at", "offer_expires_at", "registrations", "manage_token"]:
        assert name not in form_fields
    assert attendee.manage_token not in page.content.decode()


def test_retry_sync_action_requeues_failed_attendees(staff_client, make_party, make_attendee):
    party = make_party()
    failed = make_attendee(party, sync_state=SyncState.FAILED, state_reason="Timed out")
    refused = make_attendee(
        party, sync_state=SyncState.FAILED, state_reason="Invalid email", refused_as_sent=True
    )
    synced = make_attendee(party, sync_state=SyncState.SYNCED)

    response = staff_client.post(
        reverse("admin:parties_attendee_changelist"),
        {"action": "retry_sync", "_selected_action": [failed.pk, refused.pk, synced.pk]},
        follow=True,
    )

    assert response.status_code == 200
    for attendee in (failed, refused, synced):
        attendee.refresh_from_db()
    assert failed.sync_state == SyncState.PENDING
    # Klaviyo refused its address as sent: sending it again would be refused again.
    assert refused.sync_state == SyncState.FAILED
    assert synced.sync_state == SyncState.SYNCED
    assert queued_syncs() >= 1
    text = [str(m) for m in response.context["messages"]]
    assert "1 attendee(s) will sync again shortly." in text
    assert (
        "2 attendee(s) had nothing a retry can change (not rejected, or refused by Klaviyo as "
        "sent), so they were left as they are."
    ) in text


def test_retry_sync_action_on_parties_asks_for_a_sync(staff_client, make_party, make_attendee):
    party = make_party()
    make_attendee(party)

    response = staff_client.post(
        reverse("admin:parties_party_changelist"),
        {"action": "retry_sync", "_selected_action": [party.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert queued_syncs() == 1
    assert "Asked 1 party to sync now." in [str(m) for m in response.context["messages"]]


def test_operators_cannot_add_parties_or_attendees_by_hand(staff_client):
    assert staff_client.get(reverse("admin:parties_party_add")).status_code == 403
    assert staff_client.get(reverse("admin:parties_attendee_add")).status_code == 403


def test_party_details_are_read_only_in_admin(staff_client, make_party):
    party = make_party(name="Howl-o-ween")

    page = staff_client.get(reverse("admin:parties_party_change", args=[party.pk]))

    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}
