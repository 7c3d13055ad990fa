"""CSV downloads open right in Excel: UTF-8 with a byte-order mark, so accented names and
emoji survive, and the mark is the very first thing in the file."""

from __future__ import annotations

import codecs

import pytest
from django.urls import reverse

from parties.models import Reconciliation, ReconciliationStatus

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
