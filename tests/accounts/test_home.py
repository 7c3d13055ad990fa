"""The home page leads: a checklist for a new organization (connect Klaviyo, create a party,
share its link, each ticked when done, with the link to do it), then upcoming parties with
their signups and whatever needs attention."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from integrations.models import ConnectionStatus
from parties.models import Attendee, Party, SyncState

pytestmark = pytest.mark.django_db
HOME = reverse("home")


def add_attendee(party: Party, state: str = SyncState.SYNCED, **fields: object) -> Attendee:
    return Attendee.objects.create(
        party=party,
        email=f"guest{Attendee.objects.count()}@example.com",
        first_name="Gus",
        consented_at=timezone.now(),
        marketing_consent=True,
        sync_state=state,
        **fields,
    )


def step(page: str, name: str) -> str:
    """One checklist step's markup."""
    match = re.search(rf'<li id="step-{name}"(.*?)</li>', page, re.DOTALL)
    assert match, f"no step {name}"
    return match.group(0)


def is_ticked(page: str, name: str) -> bool:
    return "checklist-done" in step(page, name).split(">")[0]


# --- The checklist ----------------------------------------------------------------------------


def test_a_new_organization_sees_three_unticked_steps_with_their_links(login, owner):
    page = login(owner).get(HOME).text

    assert "Get started" in page
    assert not any(is_ticked(page, name) for name in ("connect", "party", "share"))
    assert f'href="{reverse("integrations:settings")}"' in step(page, "connect")
    assert f'href="{reverse("parties:party_create")}"' in step(page, "party")
    assert "To do:" in step(page, "connect")


def test_connecting_klaviyo_ticks_the_first_step(login, owner, make_connection):
    make_connection(owner.organization)

    page = login(owner).get(HOME).text

    assert is_ticked(page, "connect")
    assert "Done:" in step(page, "connect")
    assert not is_ticked(page, "party")


def test_a_disconnected_connection_does_not_tick_it(login, owner, make_connection):
    make_connection(owner.organization, status=ConnectionStatus.REVOKED)

    assert not is_ticked(login(owner).get(HOME).text, "connect")


def test_creating_a_party_ticks_the_second_step_and_links_to_its_signup_link(
    login, owner, make_connection, make_party
):
    party = make_party(connection=make_connection(owner.organization), name="Howl-o-ween")

    page = login(owner).get(HOME).text

    assert is_ticked(page, "connect")
    assert is_ticked(page, "party")
    assert not is_ticked(page, "share")
    share = step(page, "share")
    assert f'href="{reverse("parties:party_detail", args=[party.pk])}"' in share
    assert "Copy the link of Howl-o-ween" in share


def test_a_first_signup_ends_the_checklist_and_shows_upcoming_parties(
    login, owner, make_connection, make_party
):
    connection = make_connection(owner.organization)
    party = make_party(connection=connection, name="Howl-o-ween")
    make_party(
        connection=connection, name="Last year", starts_at=timezone.now() - timedelta(days=300)
    )
    add_attendee(party, SyncState.SYNCED)
    add_attendee(party, SyncState.PENDING)

    page = login(owner).get(HOME).text

    assert 'id="getting-started"' not in page
    upcoming = page.split('id="upcoming-parties"')[1].split("</section>")[0]
    assert "Howl-o-ween" in upcoming
    assert "Last year" not in upcoming
    assert '<td class="num" data-label="Signups">2</td>' in upcoming
    assert '<td class="num" data-label="In the list">1</td>' in upcoming
    assert "Sending to Klaviyo" in upcoming


def test_a_member_is_told_who_does_each_step(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    page = login(member).get(HOME).text

    assert reverse("parties:party_create") not in page
    assert "An owner or admin connects it" in step(page, "connect")
    assert "An owner or admin creates parties" in step(page, "party")


# --- What needs attention ---------------------------------------------------------------------


def test_signups_a_retry_can_help_need_attention(login, owner, make_connection, make_party):
    party = make_party(connection=make_connection(owner.organization), name="Howl-o-ween")
    add_attendee(party, SyncState.FAILED, state_reason="Timed out")
    add_attendee(party, SyncState.NOT_CONFIRMED)
    add_attendee(party, SyncState.SUPPRESSED)
    add_attendee(party, SyncState.SYNCED)

    page = login(owner).get(HOME).text

    attention = page.split('id="needs-attention"')[1].split("</section>")[0]
    assert "Howl-o-ween" in attention
    assert "2 signups Klaviyo did not put in the list; a retry may." in attention


def test_a_connection_needing_reconnect_and_its_paused_party_need_attention(
    login, owner, make_connection, make_party
):
    connection = make_connection(owner.organization, status=ConnectionStatus.NEEDS_RECONNECT)
    make_party(connection=connection, name="Howl-o-ween")

    page = login(owner).get(HOME).text

    attention = page.split('id="needs-attention"')[1].split("</section>")[0]
    assert f"{connection.display_name}</strong> needs reconnecting" in attention
    assert "Howl-o-ween" in attention
    assert "Paused: Klaviyo needs reconnecting" in attention
    assert "Reconnect it" in attention


def test_a_paused_party_needs_attention(login, owner, make_connection, make_party):
    make_party(
        connection=make_connection(owner.organization),
        name="Howl-o-ween",
        sync_paused_reason="The server cannot read its Klaviyo tokens.",
    )

    page = login(owner).get(HOME).text

    attention = page.split('id="needs-attention"')[1].split("</section>")[0]
    assert "The server cannot read its Klaviyo tokens." in attention


def test_nothing_needs_attention_when_all_is_well(login, owner, make_connection, make_party):
    party = make_party(connection=make_connection(owner.organization))
    add_attendee(party, SyncState.SYNCED)

    assert 'id="needs-attention"' not in login(owner).get(HOME).text


def test_another_organizations_parties_stay_out(login, owner, make_connection, make_party):
    other = make_party(connection=make_connection(), name="Secret soirée")
    add_attendee(other, SyncState.FAILED)

    page = login(owner).get(HOME).text

    assert "Secret soirée" not in page
    assert not is_ticked(page, "party")


def test_the_home_page_costs_the_same_queries_with_many_parties(
    login, owner, make_connection, make_party
):
    connection = make_connection(owner.organization)
    first = make_party(connection=connection)
    add_attendee(first, SyncState.FAILED)
    client = login(owner)
    client.get(HOME)

    def queries() -> int:
        with CaptureQueriesContext(db_connection) as captured:
            assert client.get(HOME).status_code == 200
        return len(captured)

    one = queries()
    for number in range(12):
        party = make_party(connection=connection, name=f"Party {number}")
        add_attendee(party, SyncState.FAILED)
        add_attendee(party, SyncState.SYNCED)

    assert queries() == one
