"""Personal data in a real browser, at desktop and phone widths with axe: an owner finds a
guest's data and erases it after confirming; a guest erases their own registration from
their page, whose link then stops working."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support import page_audit, pages
from tests.support.page_audit import Audit


def test_an_owner_erases_a_guest_and_a_guest_erases_themself(browser, site, audit: Audit):
    organizer = page_audit.new_context(browser)
    page = audit.watch(organizer.new_page())
    pages.sign_up(page, site, email="pia@example.com", organization="Pia's Pugs", audit=audit)
    pages.open_consent(page, site)
    pages.allow(page)
    pages.create_party(page, site, name="Pug Picnic")
    link = pages.public_link(page)
    guest = audit.watch(page_audit.new_context(browser).new_page())
    for email in ("gone@example.com", "self@example.com"):
        pages.sign_up_attendee(guest, link, email=email, first_name="Gus", pet="Rex")
    own_page = guest.get_by_role("link", name="your registration's page").get_attribute("href")

    page.goto(f"{site}/settings/personal-data/")
    page.get_by_label(re.compile("^Email address")).fill("gone@example.com")
    page.get_by_role("button", name="Find their data").click()
    expect(page.locator("#person")).to_contain_text("Pug Picnic")
    audit.check(page, "personal-data-found")
    page.get_by_role("button", name="Erase their data").click()
    expect(page.get_by_text("Tick this box to erase their data.")).to_be_visible()
    page.get_by_label("I understand that this cannot be undone.").check()
    page.get_by_role("button", name="Erase their data").click()
    expect(page.get_by_text("Erased 1 registration")).to_be_visible()
    expect(page.get_by_role("region", name="Requests answered").last).to_contain_text("Erasure")
    audit.check(page, "personal-data-erased")

    guest.goto(f"{site}{own_page}" if own_page.startswith("/") else own_page)
    guest.get_by_role("link", name="Erase my registration").click()
    audit.check(guest, "attendee-erase")
    guest.get_by_role("button", name="Erase my registration").click()
    expect(guest.get_by_role("heading", level=1)).to_have_text("Your registration is erased")
    audit.check(guest, "attendee-erased")
    guest.goto(f"{site}{own_page}" if own_page.startswith("/") else own_page)
    expect(guest.get_by_role("heading", level=1)).to_have_text(re.compile("no longer works"))

    audit.assert_clean()
