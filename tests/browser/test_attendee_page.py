"""An attendee's own page in a real browser, at desktop and phone widths with axe: a party of
one fills up, the next signup is told its waitlist position on the thank-you page, the first
guest follows the thank-you page's link to their own page, changes their details and cancels
after a confirmation, and the guest who waited finds themselves registered on theirs."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support import page_audit, pages
from tests.support.page_audit import Audit
from tests.support.pages import label


def test_a_guest_cancels_on_their_own_page_and_the_next_one_moves_up(browser, site, audit: Audit):
    organizer = page_audit.new_context(browser)
    page = audit.watch(organizer.new_page())
    pages.sign_up(page, site, email="fen@example.com", organization="Fen's Ferrets", audit=audit)
    pages.open_consent(page, site)
    pages.allow(page)
    party_url = pages.create_party(page, site, name="Ferret Fair")
    page.goto(f"{party_url}edit/")
    page.get_by_label(label("Capacity (optional)")).fill("1")
    page.get_by_role("button", name="Save changes").click()
    public_url = pages.public_link(page)

    # The first guest gets the place, and their own page's link on the thank-you page.
    amy = audit.watch(page_audit.new_context(browser).new_page())
    pages.sign_up_attendee(amy, public_url, email="amy@example.com", first_name="Amy", pet="Zip")
    expect(amy.get_by_role("heading", level=1)).to_have_text("Thank you, you're signed up!")
    audit.check(amy, "thanks-with-link")
    amy.get_by_role("link", name="your registration's page").click()
    expect(amy.get_by_text("You're registered.")).to_be_visible()
    expect(amy.get_by_role("link", name=re.compile("Calendar file"))).to_be_visible()
    audit.check(amy, "attendee-page-registered")

    # The second is told the party is full, and their place in line.
    ben = audit.watch(page_audit.new_context(browser).new_page())
    ben.goto(public_url)
    expect(ben.get_by_role("heading", name="Join the waitlist")).to_be_visible()
    audit.check(ben, "signup-full-waitlist")
    pages.sign_up_attendee(
        ben,
        public_url,
        email="ben@example.com",
        first_name="Ben",
        pet="Pip",
        button="Join the waitlist",
    )
    expect(ben.get_by_role("heading", level=1)).to_have_text("You're on the waitlist")
    expect(ben.get_by_text("number 1")).to_be_visible()
    ben.get_by_role("link", name="your registration's page").click()
    expect(ben.get_by_text("You're number 1 on the waitlist.")).to_be_visible()
    audit.check(ben, "attendee-page-waitlisted")
    ben_page = ben.url

    # Amy changes her details; a mistake is shown beside its field.
    amy.get_by_label(label("First name")).fill("")
    amy.get_by_role("button", name="Save my details").click()
    pages.expect_field_error(amy, "First name", "Enter your first name.")
    audit.check(amy, "attendee-page-details-error")
    amy.get_by_label(label("First name")).fill("Amelia")
    amy.get_by_role("button", name="Save my details").click()
    expect(amy.get_by_text("Saved: your details are updated.")).to_be_visible()

    # She cancels, after a confirmation; Ben moves up by himself.
    amy.get_by_role("link", name="Cancel my registration").click()
    expect(amy.get_by_role("heading", level=1)).to_have_text(
        "Cancel your registration for Ferret Fair?"
    )
    audit.check(amy, "attendee-cancel-confirmation-own")
    amy.get_by_role("button", name="Cancel my registration").click()
    expect(amy.get_by_text("You cancelled your registration")).to_be_visible()
    expect(amy.get_by_text("The party is full: signing up again puts you")).to_be_visible()
    audit.check(amy, "attendee-page-cancelled")

    ben.goto(ben_page)
    expect(ben.get_by_text("You're registered.")).to_be_visible()
    page.goto(party_url)
    expect(pages.attendee_row(page, "ben@example.com")).to_contain_text("Registered")
    expect(pages.attendee_row(page, "amy@example.com")).to_contain_text("Cancelled")
    audit.assert_clean()
