"""The party page follows signups by itself, whatever it was doing: open and idle for a
minute, it shows a new signup within 5 s, and its status message, Details and counts change
with the rows (one snapshot, one refresh)."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.support import page_audit, pages
from tests.support.page_audit import Audit

# What the README promises: a signup shows on an open party page within about five seconds.
WITHIN_MS = 5_000


def test_a_signup_appears_on_a_page_left_idle_for_a_minute_within_5_seconds(
    browser, site, audit: Audit
):
    organizer = page_audit.new_context(browser)
    page = organizer.new_page()
    pages.sign_up(page, site, email="ida@example.com", organization="Idle Club", audit=audit)
    pages.open_consent(page, site)
    pages.allow(page)
    party_url = pages.create_party(page, site, name="Quiet Evening")
    link = pages.public_link(page)
    # The page's own clock, so a minute of idling takes no minute of the suite: every timer
    # the page set in that minute (its polls) fires as it would have.
    page.clock.install()
    page.goto(party_url)
    details = page.locator("#live-details")
    expect(details).to_contain_text("as Klaviyo reports it", timeout=15_000)  # the list exists
    expect(page.locator("#live-counts")).to_contain_text(re.compile(r"Total\s*0\b"))
    page.evaluate("() => { window.__notReloaded = true; }")
    page.clock.run_for(60_000)

    guest = page_audit.new_context(browser).new_page()
    pages.sign_up_attendee(guest, link, email="gus@example.com", first_name="Gus", pet="Rex")
    signed_up = time.monotonic()

    expect(pages.attendee_row(page, "gus@example.com")).to_be_visible(timeout=WITHIN_MS)
    seen_after = time.monotonic() - signed_up
    assert seen_after < WITHIN_MS / 1000, seen_after
    # Counts, message and Details changed with the row, from the same refresh.
    expect(page.locator("#live-counts")).to_contain_text(re.compile(r"Total\s*1\b"), timeout=1)
    expect(pages.attendee_row(page, "gus@example.com")).to_contain_text(
        "In the list", timeout=15_000
    )
    expect(details.locator("dd").last).not_to_have_text("not yet")
    expect(page.locator("#live-status")).not_to_contain_text("on their way")
    assert page.evaluate("() => window.__notReloaded === true"), "the page was reloaded"
