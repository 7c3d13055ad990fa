"""The site's icon: linked from every page's head, and /favicon.ico finds it instead of a 404."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_favicon_ico_redirects_permanently_to_the_static_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/favicon.svg"
    assert finders.find("favicon.svg")


def test_the_icon_is_an_svg_image():
    text = Path(finders.find("favicon.svg")).read_text()

    assert text.startswith("<svg ")
    assert 'xmlns="http://www.w3.org/2000/svg"' in text


def test_organizer_pages_link_the_icon(client):
    page = client.get(reverse("accounts:login"))

    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text


def test_the_public_signup_page_links_the_icon(client, make_connection):
    from parties.models import ListState, Party

    connection = make_connection()
    party = Party.objects.create(
        organization=connection.organization,
        connection=connection,
        name="Howl-o-ween",
        starts_at="2030-10-31T18:00Z",
        address="1 Bark Street",
        city="Boston",
        state="MA",
        list_state=ListState.READY,
    )

    page = client.get(reverse("parties:signup", args=[party.slug]))

    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text
