"""Phone, keyboard and screen reader basics in the accounts, public, registration and base
templates: messages announced without losing list semantics, tables that scroll inside a
focusable labelled region, visible focus, and long words that wrap on a 375 px screen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse

from accounts.models import Role

OWNED = ["base.html", "error_base.html", "accounts", "public", "registration", "includes"]
TABLE_WRAP = re.compile(r"<div[^>]*class=\"table-wrap\"[^>]*>")


def owned_templates() -> list:
    root = settings.BASE_DIR / "templates"
    paths = []
    for name in OWNED:
        path = root / name
        paths += sorted(path.rglob("*.html")) if path.is_dir() else [path]
    return paths


def test_every_table_scrolls_in_a_focusable_labelled_region():
    wraps = [
        (path.name, match.group(0))
        for path in owned_templates()
        for match in TABLE_WRAP.finditer(path.read_text())
    ]

    assert wraps, "the scan found no table"
    for name, tag in wraps:
        assert 'tabindex="0"' in tag, name
        assert 'role="region"' in tag, name
        assert re.search(r'aria-label="[^"]+"', tag), name


@pytest.mark.django_db
def test_messages_are_a_plain_list_inside_a_polite_live_region(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    client = login(owner)
    client.post(reverse("accounts:member_change_role", args=[member.pk]), {"role": "admin"})

    page = client.get(reverse("accounts:member_list")).text

    region = page.index('<div class="messages-region" role="status" aria-live="polite">')
    assert page.index('<ul class="messages">', region) > region
    assert not re.search(r"<ul[^>]*role=", page)
    assert "is now admin" in page


def test_focus_is_visible_and_long_words_wrap():
    css = Path(finders.find("css/partyline.css")).read_text()

    assert re.search(r":focus-visible\s*\{[^}]*outline: 3px solid", css)
    assert "overflow-wrap: anywhere" in css
    assert ".table-wrap { overflow-x: auto; }" in css


@pytest.mark.parametrize("name", ["base.html", "public/base.html", "error_base.html"])
def test_pages_fit_the_phones_width(name):
    text = (settings.BASE_DIR / "templates" / name).read_text()

    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
