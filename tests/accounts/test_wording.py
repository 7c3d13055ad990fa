"""Possessives of names: "Parties'" and "Acme's", never "Parties's"."""

from __future__ import annotations

import html

import pytest
from django.template import Context, Template
from django.urls import reverse

from core.templatetags.wording import possessive
from parties.models import ListState, Party


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme", "Acme's"),
        ("Parties", "Parties'"),
        ("Demo Pet Parties", "Demo Pet Parties'"),
        ("BARK CLUBS", "BARK CLUBS'"),
        ("Zoë", "Zoë's"),
        ("  Acme  ", "Acme's"),
        ("", ""),
        (None, ""),
    ],
)
def test_possessive(name, expected):
    assert possessive(name) == expected


def test_possessive_is_in_every_template_and_escaped():
    rendered = Template("{{ name|possessive }}").render(Context({"name": "<b>Tom & Jerries"}))

    assert rendered == "&lt;b&gt;Tom &amp; Jerries&#x27;"


@pytest.mark.django_db
def test_no_template_makes_a_name_possessive_by_hand(settings):
    pages = [
        path
        for directory in ("templates", "accounts", "integrations", "parties")
        for path in (settings.BASE_DIR / directory).rglob("*.html")
    ]
    by_hand = ("}}'s", "}}\u2019s")  # a straight or a typographic apostrophe
    offenders = [str(path) for path in pages if any(s in path.read_text() for s in by_hand)]

    assert pages
    assert offenders == []


@pytest.mark.django_db
def test_integrations_page_says_parties_apostrophe(login, make_org, make_member):
    owner = make_member(organization=make_org("Parties"))

    page = html.unescape(login(owner).get(reverse("integrations:settings")).text)

    assert "Connect Parties' Klaviyo accounts" in page
    assert "Parties's" not in page


@pytest.mark.django_db
def test_api_tokens_page_says_parties_apostrophe(login, make_org, make_member):
    owner = make_member(organization=make_org("Demo Pet Parties"))

    page = html.unescape(login(owner).get(reverse("accounts:api_tokens")).text)

    assert "Demo Pet Parties' Klaviyo connections" in page
    assert "Parties's" not in page


@pytest.mark.django_db
def test_public_signup_page_says_parties_apostrophe(client, make_org, make_connection):
    connection = make_connection(make_org("Demo Pet Parties"))
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

    page = html.unescape(client.get(reverse("parties:signup", args=[party.slug])).text)

    assert "unsubscribe from Demo Pet Parties' emails" in page
    assert "Parties's" not in page
