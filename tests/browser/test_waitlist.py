"""A capped party with a waitlist in a real browser, at desktop and phone widths with axe: the
capacity on the party form (refused below the places held), the party page's places and its
waitlist in order, "Register now", and cancelling a registration after a confirmation, which
moves the first person waiting up."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support import page_audit, pages
from tests.support.page_audit import Audit
from tests.support.pages import label

GUESTS = ("amy", "ben", "cal", "dot")


def test_a_capped_party_fills_up_and_its_waitlist_moves(browser, site, audit: Audit):
    organizer = page_audit.new_context(browser)
    page = audit.watch(organizer.new_page())
    pages.sign_up(page, site, email="wren@example.com", organization="Wren's Whippets", audit=audit)
    pages.open_consent(page, site)
    pages.allow(page)
    party_url = pages.create_party(page, site, name="Whippet Walk")

    # Capacity 2, through the edit form.
    page.goto(f"{party_url}edit/")
    page.get_by_label(label("Capacity (optional)")).fill("2")
    expect(page.get_by_label(label("Keep a waitlist once the party is full"))).to_be_checked()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Whippet Walk")

    guest = page_audit.new_context(browser)
    public = audit.watch(guest.new_page())
    public_url = pages.public_link(page)
    for number, name in enumerate(GUESTS):
        # Once the two places are taken, the form offers the waitlist instead.
        button = "Sign up" if number < 2 else "Join the waitlist"
        pages.sign_up_attendee(
            public,
            public_url,
            email=f"{name}@example.com",
            first_name=name.title(),
            pet="Zip",
            button=button,
        )

    page.goto(party_url)
    places = page.locator("#live-places")
    expect(places).to_contain_text("2 of 2 places taken")
    waitlist = page.locator("#waitlist")
    expect(waitlist.get_by_role("row")).to_have_count(3)  # the heading and two people
    expect(waitlist.get_by_role("row").nth(1)).to_contain_text("cal@example.com")
    expect(waitlist.get_by_role("row").nth(2)).to_contain_text("dot@example.com")
    expect(pages.attendee_row(page, "dot@example.com")).to_contain_text("number 2")
    audit.check(page, "party-waitlist")

    # The capacity cannot go below the places held.
    page.goto(f"{party_url}edit/")
    page.get_by_label(label("Capacity (optional)")).fill("1")
    page.get_by_role("button", name="Save changes").click()
    pages.expect_field_error(
        page, "Capacity (optional)", "2 people hold places: the capacity cannot go below that."
    )
    audit.check(page, "party-form-capacity-error")

    # Cancelling asks first; confirmed, the first person waiting is registered.
    page.goto(party_url)
    pages.attendee_row(page, "amy@example.com").get_by_role(
        "link", name="Cancel registration of amy@example.com"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Cancel the registration of amy@example.com?"
    )
    audit.check(page, "attendee-cancel-confirmation")
    page.get_by_role("button", name="Cancel the registration").click()
    expect(page.get_by_text("Cancelled amy@example.com's registration")).to_be_visible()
    expect(pages.attendee_row(page, "amy@example.com")).to_contain_text("Cancelled")
    expect(pages.attendee_row(page, "cal@example.com")).to_contain_text("Registered")
    expect(page.locator("#waitlist").get_by_role("row")).to_have_count(2)

    # Register now, with no free place, says so; Remove takes the last person off.
    page.locator("#waitlist").get_by_role("button", name="Register now: dot@example.com").click()
    expect(page.get_by_text(re.compile("This party is full. Raise its capacity"))).to_be_visible()
    page.locator("#waitlist").get_by_role(
        "button", name="Remove dot@example.com from the waitlist"
    ).click()
    expect(pages.attendee_row(page, "dot@example.com")).to_contain_text("Cancelled")
    expect(page.locator("#waitlist")).to_contain_text("Nobody is waiting.")
    audit.check(page, "party-waitlist-after")

    audit.assert_clean()
