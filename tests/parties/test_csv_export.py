"""CSV downloads open right in Excel: UTF-8 with a byte-order mark, so accented names and
emoji survive, and the mark is the very first thing in the file."""

from __future__ import annotations

import codecs

import pytest
from django.urls import reverse

from parties.models import Place, Reconciliation, ReconciliationStatus, SyncState

pytestmark = pytest.mark.django_db


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_attendee_csv_starts_with_the_utf8_byte_order_mark(
    login, owner, make_party, make_attendee
):
    party = make_party(owner.organization)
    make_attendee(party, email="zoe@example.com", first_name="Zoë", last_name="Ñúñez")

    response = login(owner).get(reverse("parties:attendees_csv", args=[party.pk]))

    body = body_of(response)
    assert body.startswith(codecs.BOM_UTF8 + b"email,first_name,")
    assert body.count(codecs.BOM_UTF8) == 1
    assert "zoe@example.com,Zoë,Ñúñez," in body.decode("utf-8-sig")
    assert response["Content-Type"] == "text/csv; charset=utf-8"


def test_the_reconcile_csv_starts_with_the_byte_order_mark_too(login, owner, make_party):
    party = make_party(owner.organization)
    result = Reconciliation.objects.create(
        party=party,
        status=ReconciliationStatus.DONE,
        differences=[
            {"email": "zoë@example.com", "difference": "only_in_klaviyo", "state": ""},
        ],
    )

    response = login(owner).get(reverse("parties:reconcile_csv", args=[party.pk, result.pk]))

    body = body_of(response)
    assert body.startswith(codecs.BOM_UTF8 + b"email,difference,status_here\r\n")
    assert "zoë@example.com,only_in_klaviyo," in body.decode("utf-8-sig")


def test_an_empty_export_is_the_mark_and_the_header(login, owner, make_party):
    party = make_party(owner.organization)

    body = body_of(login(owner).get(reverse("parties:attendees_csv", args=[party.pk])))

    assert body.startswith(codecs.BOM_UTF8)
    assert body.decode("utf-8-sig").count("\r\n") == 1


def test_the_states_of_places_read_as_words_on_the_page_and_in_the_csv(
    login, owner, make_party, make_attendee
):
    party = make_party(owner.organization)
    make_attendee(
        party, email="wait@example.com", place=Place.WAITLISTED, sync_state=SyncState.CONSENTED
    )
    make_attendee(
        party, email="gone@example.com", place=Place.CANCELLED, sync_state=SyncState.REMOVED
    )
    client = login(owner)

    csv = body_of(client.get(reverse("parties:attendees_csv", args=[party.pk]))).decode("utf-8-sig")
    page = client.get(reverse("parties:party_detail", args=[party.pk]))

    assert "In Klaviyo, not in the list" in csv
    assert "Removed from the list" in csv
    counts = page.context["counts"]
    assert (counts[SyncState.CONSENTED], counts[SyncState.REMOVED]) == (1, 1)
    assert (counts["in_flight"], counts["not_in_list"]) == (0, 0)
    assert "In Klaviyo, not in the list" in page.text
    assert "Removed from the list" in page.text
