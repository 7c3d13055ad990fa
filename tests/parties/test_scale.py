"""The organizer's pages cost the same whatever the party's size (scenario 4 of the stack
benchmark, bench/pages.py, measures them at 10,000 attendees): a fixed number of queries for
the party page, its live fragment and the CSV export, and an export that holds a chunk of
attendees in memory, never all of them."""

from __future__ import annotations

import tracemalloc

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from parties.models import Party, SyncState
from tests.support.attendees import add_attendees

pytestmark = pytest.mark.django_db

# Every state a party's table shows, reasons and Retry buttons included.
STATES = (
    SyncState.SYNCED,
    SyncState.AWAITING_CONFIRMATION,
    SyncState.FAILED,
    SyncState.SUPPRESSED,
    SyncState.NOT_CONFIRMED,
    SyncState.SENT,
    SyncState.PENDING,
)


def queries(client, url: str) -> int:
    with CaptureQueriesContext(db_connection) as captured:
        response = client.get(url)
        if response.streaming:
            for _chunk in response.streaming_content:
                pass
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("page", ["party_detail", "party_live", "attendees_csv"])
def test_a_page_costs_the_same_queries_with_3_attendees_and_with_1000(
    login, owner, make_party, page
):
    # Fewer attendees than a page of the table holds against many: a query per row shows.
    few, many = make_party(owner.organization), make_party(owner.organization)
    add_attendees(few, 3, states=STATES)
    add_attendees(many, 1_000, states=STATES)
    client = login(owner)
    queries(client, reverse(f"parties:{page}", args=[few.pk]))  # the session settles

    assert queries(client, reverse(f"parties:{page}", args=[few.pk])) == queries(
        client, reverse(f"parties:{page}", args=[many.pk])
    )


def export_peak_bytes(client, party: Party) -> int:
    """The most memory Python held while the export was read, one chunk at a time; the
    lower of two reads, as tracemalloc also counts what other threads of the test process
    allocate meanwhile."""
    peaks = []
    for _ in range(2):
        tracemalloc.start()
        try:
            response = client.get(reverse("parties:attendees_csv", args=[party.pk]))
            for _chunk in response.streaming_content:
                pass
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return min(peaks)


def test_the_export_holds_a_chunk_of_attendees_in_memory_not_all_of_them(login, owner, make_party):
    small, large = make_party(owner.organization), make_party(owner.organization)
    add_attendees(small, 1_000, states=STATES)
    add_attendees(large, 5_000, states=STATES)
    client = login(owner)
    export_peak_bytes(client, small)  # the session settles

    # Five times the attendees: loaded whole, about four times the memory (a chunk of 500
    # in flight costs about the same at both sizes).
    assert export_peak_bytes(client, large) < 2 * export_peak_bytes(client, small)
