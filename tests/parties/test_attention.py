"""What "needs attention" means for a party is one rule (`parties.selectors.Attention`): home,
the parties list and the party page agree on it, and Retry is offered only where sending
again can change the outcome."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import ConnectionStatus
from parties import services
from parties.models import Attendee, Party, SyncState

pytestmark = pytest.mark.django_db
HOME = reverse("home")


def add(party: Party, state: str, **fields: object) -> Attendee:
    return Attendee.objects.create(
        party=party,
        email=f"guest{Attendee.objects.count()}@example.com",
        first_name="Gus",
        consented_at=timezone.now(),
        marketing_consent=True,
        sync_state=state,
        **fields,
    )


@pytest.fixture
def parties(owner, make_connection, make_party) -> dict[str, Party]:
    """One party per situation, named after whether it needs its organizer."""
    connection = make_connection(owner.organization)
    soon = timezone.now() + timezone.timedelta(days=3)

    def party(name: str, **fields: object) -> Party:
        return make_party(connection=connection, name=name, starts_at=soon, **fields)

    made = {
        "retry-helps": party("Needs: a timeout"),
        "unconfirmed": party("Needs: unconfirmed"),
        "paused": party("Needs: paused", sync_paused_reason="The tokens cannot be read."),
        "refused": party("Fine: refused address"),
        "suppressed": party("Fine: suppressed"),
        "in-list": party("Fine: in the list"),
    }
    add(made["retry-helps"], SyncState.FAILED, state_reason="Klaviyo timed out.")
    add(made["unconfirmed"], SyncState.NOT_CONFIRMED)
    add(made["paused"], SyncState.SYNCED)
    add(
        made["refused"],
        SyncState.FAILED,
        state_reason="Invalid email address.",
        refused_as_sent=True,
    )
    add(made["suppressed"], SyncState.SUPPRESSED, state_reason="Unsubscribed.")
    add(made["in-list"], SyncState.SYNCED)
    return made


NEEDING = {"Needs: a timeout", "Needs: unconfirmed", "Needs: paused"}


def _flagged_on_home(page: str) -> set[str]:
    attention = page.split('id="needs-attention"')[1].split("</section>")[0]
    return {name for name in _all_names() if name in attention}


def _flagged_on_list(page: str) -> set[str]:
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("</tr>")
    return {
        name
        for row in rows
        for name in _all_names()
        if name in row and ("Needs attention:" in row or "Paused:" in row)
    }


def _all_names() -> list[str]:
    return list(Party.objects.values_list("name", flat=True))


def test_home_the_parties_list_and_the_party_page_agree(login, owner, parties):
    client = login(owner)

    home = client.get(HOME).text
    listing = client.get(reverse("parties:party_list")).text
    on_party_page = {
        party.name
        for party in parties.values()
        if "Needs attention:" in (page := client.get(_detail(party)).text)
        or "Syncing is paused" in page
    }

    assert _flagged_on_home(home) == NEEDING
    assert _flagged_on_list(listing) == NEEDING
    assert on_party_page == NEEDING
    # A party that needs nothing reads "Up to date" wherever its state is summed up in a line.
    row = listing.split("Fine: refused address")[1].split("</tr>")[0]
    assert "Up to date." in row
    assert "Needs attention" not in row


def test_the_party_page_links_to_the_attendees_a_retry_can_help(login, owner, parties):
    party = parties["retry-helps"]
    add(party, SyncState.FAILED, state_reason="Invalid email.", refused_as_sent=True)
    client = login(owner)

    page = client.get(_detail(party)).text
    assert "Needs attention: 1 signup Klaviyo did not put in the list" in page
    filtered = client.get(_detail(party), {"state": "attention"})
    emails = [attendee.email for attendee in filtered.context["page_obj"]]
    assert emails == [party.attendees.get(refused_as_sent=False).email]


def test_retry_is_offered_only_where_it_can_change_the_outcome(login, owner, parties):
    refused = parties["refused"].attendees.get()
    timed_out = parties["retry-helps"].attendees.get()
    client = login(owner)

    refused_page = client.get(_detail(parties["refused"])).text
    assert f'id="retry-{refused.pk}"' not in refused_page
    assert "a retry would be refused again" in refused_page
    assert 'id="retry-all-rejected"' not in refused_page
    retry_page = client.get(_detail(parties["retry-helps"])).text
    assert f'id="retry-{timed_out.pk}"' in retry_page
    assert "Retry 1 rejected" in retry_page

    # Posted anyway (an old page), the refused one is left as it is, and the page says why.
    response = client.post(
        reverse("parties:attendee_retry", args=[parties["refused"].pk, refused.pk]), follow=True
    )
    refused.refresh_from_db()
    assert refused.sync_state == SyncState.FAILED
    assert "sending it again would be refused again" in response.text


def test_retry_all_leaves_those_refused_as_sent(parties):
    party = parties["retry-helps"]
    refused = add(party, SyncState.FAILED, state_reason="Invalid email.", refused_as_sent=True)

    assert services.party_retry_failed(party=party) == 1
    refused.refresh_from_db()
    assert refused.sync_state == SyncState.FAILED
    assert party.attendees.filter(sync_state=SyncState.PENDING).count() == 1


def test_a_disconnected_party_needs_attention_everywhere(login, owner, make_connection, make_party):
    connection = make_connection(owner.organization, status=ConnectionStatus.REVOKED)
    party = make_party(connection=connection, name="Stopped party")
    client = login(owner)

    assert "Stopped party" in _flagged_on_home(client.get(HOME).text)
    assert "Stopped: Klaviyo disconnected" in client.get(reverse("parties:party_list")).text
    assert "Syncing is stopped" in client.get(_detail(party)).text


def _detail(party: Party) -> str:
    return reverse("parties:party_detail", args=[party.pk])
