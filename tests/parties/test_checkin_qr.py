"""The check-in QR code: drawn on the server as inline SVG (well-formed, labelled, no script or
style), shown to a registered attendee on their own page and on a new signup's thank-you page
with the code as text, and to nobody else; it holds the check-in code, never the private link.
(tests/browser/test_checkin_qr.py decodes it from the page as a camera would.)"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from parties import places, qr, services
from parties.models import Attendee, Party, Place
from privacy.erasure import tombstone
from tests.support.signups import post_signup, signup

pytestmark = pytest.mark.django_db

LABEL = "QR code for checking in"
SENTENCE = "Show this at the door to check in."
LATER = "Once you have a place, your registration's page shows a QR code"


@pytest.fixture
def party(owner, make_party) -> Party:
    return make_party(owner.organization, name="Howl-o-ween", capacity=1)


def page_url(attendee: Attendee, name: str = "attendee_manage") -> str:
    return reverse(f"parties:{name}", args=[attendee.manage_token])


def page_of(client: Client, attendee: Attendee) -> str:
    response = client.get(page_url(attendee))
    assert response.status_code == 200
    return response.content.decode()


def shows_qr(text: str, attendee: Attendee) -> bool:
    return LABEL in text or attendee.checkin_code in text


# --- The drawing -----------------------------------------------------------------------------


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output, parsed to check it is well-formed)


def test_the_svg_is_well_formed_scalable_and_labelled_for_screen_readers():
    svg = parsed(qr.checkin_qr_svg("Ab3_-xYz09Qw"))

    assert svg.tag == "svg"
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == LABEL
    # 21 modules (version 1) and four of quiet zone each side; no fixed size: CSS sizes it.
    assert svg.get("viewBox") == "0 0 29 29"
    assert svg.get("width") is None
    assert svg.get("height") is None


def test_the_svg_is_dark_modules_on_white_without_script_or_style():
    svg = parsed(qr.checkin_qr_svg("Ab3_-xYz09Qw"))
    elements = list(svg.iter())

    background, modules = svg.findall("path")
    assert background.get("fill") == "#fff"
    assert background.get("d") == "M0 0h29v29h-29z"  # the whole square, quiet zone included
    assert modules.get("stroke") == "#000"
    assert modules.get("d", "").startswith("M4 4.5h7")  # the top-left finder, past the zone
    assert not [element for element in elements if element.tag in {"script", "style"}]
    assert not [
        name
        for element in elements
        for name in element.attrib
        if name == "style" or name.lower().startswith("on") or "href" in name
    ]


def test_the_label_is_escaped_in_the_svg(monkeypatch):
    monkeypatch.setattr(qr, "gettext", lambda text: '"><script>alert(1)</script>')

    svg = qr.checkin_qr_svg("Ab3_-xYz09Qw")

    assert "<script>" not in svg
    assert parsed(svg).get("aria-label") == '"><script>alert(1)</script>'


# --- The attendee's own page -----------------------------------------------------------------


def test_a_registered_attendee_sees_their_qr_code_and_the_code_as_text(client: Client, party):
    ann = signup(party, "ann@example.com")

    text = page_of(client, ann)

    assert str(qr.checkin_qr_svg(ann.checkin_code)) in text
    assert SENTENCE in text
    assert f'<code class="checkin-code">{ann.checkin_code}</code>' in text


def test_a_waitlisted_attendee_is_told_the_code_comes_with_a_place(client: Client, party):
    signup(party, "first@example.com")
    bob = signup(party, "bob@example.com")
    assert bob.place == Place.WAITLISTED

    text = page_of(client, bob)

    assert not shows_qr(text, bob)
    assert LATER in text


def test_an_offered_place_shows_no_code_until_it_is_claimed(client: Client, party):
    Party.objects.filter(pk=party.pk).update(claim_window_hours=24)
    party.refresh_from_db()
    first = signup(party, "first@example.com")
    bob = signup(party, "bob@example.com")
    places.attendee_cancel(attendee=first, by=places.BY_ORGANIZER)
    bob.refresh_from_db()
    assert bob.place == Place.OFFERED
    assert not shows_qr(page_of(client, bob), bob)

    places.offer_claim(attendee=bob)

    assert shows_qr(page_of(client, bob), bob)


def test_a_cancelled_registration_shows_no_code(client: Client, party):
    ann = signup(party, "ann@example.com")
    client.post(page_url(ann, "attendee_manage_cancel"))

    text = page_of(client, ann)

    assert not shows_qr(text, ann)
    assert LATER in text


def test_a_party_that_is_over_shows_no_code(client: Client, party):
    ann = signup(party, "ann@example.com")
    assert shows_qr(page_of(client, ann), ann)
    Party.objects.filter(pk=party.pk).update(
        starts_at=timezone.now() - timedelta(days=1), ends_at=timezone.now() - timedelta(hours=1)
    )

    assert not shows_qr(page_of(client, ann), ann)


def test_a_cancelled_party_shows_no_code(client: Client, party):
    ann = signup(party, "ann@example.com")

    services.party_cancel(party=party)

    assert not shows_qr(page_of(client, ann), ann)


def test_an_erased_registration_has_no_page_and_a_new_code(client: Client, party):
    ann = signup(party, "ann@example.com")
    old_url, old_code = page_url(ann), ann.checkin_code

    tombstone(ann)

    response = client.get(old_url)
    assert response.status_code == 404
    assert old_code not in response.content.decode()
    ann.refresh_from_db()
    assert ann.checkin_code != old_code  # a kept photo of the old code checks nobody in


# --- The thank-you page ----------------------------------------------------------------------


def test_a_new_signup_sees_its_qr_code_on_the_thank_you_page(client: Client, party):
    response = post_signup(client, party, email="ann@example.com")
    ann = Attendee.objects.get(email="ann@example.com")

    text = client.get(response["Location"]).content.decode()

    assert str(qr.checkin_qr_svg(ann.checkin_code)) in text
    assert SENTENCE in text
    assert ann.checkin_code in text


def test_a_new_signup_on_the_waitlist_is_told_the_code_comes_with_a_place(client, party):
    signup(party, "first@example.com")
    response = post_signup(client, party, email="bob@example.com")
    bob = Attendee.objects.get(email="bob@example.com")

    text = client.get(response["Location"]).content.decode()

    assert not shows_qr(text, bob)
    assert LATER in text


def test_the_thank_you_page_shows_no_code_without_the_new_signups_cookie(party):
    ann = signup(party, "ann@example.com")
    thanks = reverse("parties:signup_thanks", args=[party.slug])
    stranger = Client()
    # The same address typed again: the earlier signup stands, and its code stays hidden.
    response = post_signup(stranger, party, email="ann@example.com")
    text = stranger.get(response["Location"]).content.decode()
    assert not shows_qr(text, ann)
    assert LATER not in text  # nothing about checking in for someone the page does not know
    # Nobody's cookie at all.
    assert not shows_qr(Client().get(thanks).content.decode(), ann)


# --- The code is not the link ----------------------------------------------------------------


def test_the_code_is_not_the_private_link_nor_part_of_it(party):
    ann, bob = signup(party, "ann@example.com"), signup(party, "bob@example.com")

    assert ann.checkin_code != bob.checkin_code
    assert len(ann.checkin_code) >= 12  # 72 random bits in URL-safe base64
    assert ann.checkin_code != ann.manage_token
    assert ann.checkin_code not in ann.manage_token
    assert ann.checkin_code not in page_url(ann)
