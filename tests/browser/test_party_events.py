"""A party's lifecycle events in a real browser, at desktop and phone widths with axe: the
party form's end and reminders, the party page's Klaviyo events filling in as the sandbox
records them, the attendee's own events, "Send me test events" and its once-a-minute limit,
then cancelling the party and what its public pages say afterwards."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support import page_audit, pages
from tests.support.page_audit import Audit
from tests.support.pages import label

EMAIL = "ivy@example.com"


def test_a_partys_events_show_on_its_page_and_a_cancelled_party_says_so(
    browser, site, settings, audit: Audit
):
    settings.EVENTS_SEND_WINDOW_SECONDS = 0.5
    organizer = page_audit.new_context(browser)
    page = audit.watch(organizer.new_page())
    pages.sign_up(page, site, email=EMAIL, organization="Ivy's Iguanas", audit=audit)
    pages.open_consent(page, site)
    pages.allow(page)

    # The form: an end before the start and a mistyped reminder are refused beside their fields.
    page.goto(f"{site}/parties/new/")
    page.get_by_label(label("Name")).fill("Iguana Social")
    page.get_by_label(label("Starts at")).fill("2031-07-04T18:30")
    page.get_by_label(label("Ends at (optional)")).fill("2031-07-04T17:00")
    page.get_by_label(label("Address")).fill("1 Bark Street")
    page.get_by_label(label("City")).fill("Boston")
    page.get_by_label(label("State or region")).fill("MA")
    page.get_by_label(label("Reminders, in hours before the start (optional)")).fill("24, 2, 24")
    page.get_by_role("button", name="Create party").click()
    pages.expect_field_error(page, "Ends at (optional)", "The party must end after it starts.")
    pages.expect_field_error(
        page, "Reminders, in hours before the start (optional)", "24 is there twice"
    )
    audit.check(page, "party-form-end-and-reminders-errors")
    page.get_by_label(label("Ends at (optional)")).fill("2031-07-04T23:00")
    page.get_by_label(label("Reminders, in hours before the start (optional)")).fill("48, 3")
    page.get_by_role("button", name="Create party").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Iguana Social")
    party_url = page.url
    details = page.locator(".facts").first
    expect(details).to_contain_text("Friday 4 July 2031, 23:00")
    expect(details).to_contain_text("48 and 3 hours before the start")

    guest = page_audit.new_context(browser)
    public = audit.watch(guest.new_page())
    public_url = pages.public_link(page)
    pages.sign_up_attendee(
        public, public_url, email="sam@example.com", first_name="Sam", pet="Iggy"
    )

    # The party page fills in by itself as Klaviyo records the registration.
    page.goto(party_url)
    section = page.locator("#klaviyo-events")
    expect(section.get_by_role("heading", name="Klaviyo events")).to_be_visible()
    registered = section.get_by_role("row", name=re.compile("^Registered for Party"))
    expect(registered.get_by_role("cell").nth(2)).to_have_text("1", timeout=20_000)
    expect(pages.attendee_row(page, "sam@example.com")).to_contain_text(
        "Registered for Party: delivered"
    )
    expect(section).to_contain_text("Klaviyo accepted it; delivered once we see it recorded.")

    section.get_by_role("button", name="Send me test events").click()
    expect(
        page.get_by_text(f"on their way to Klaviyo for {EMAIL} (marked sample: true)")
    ).to_be_visible()
    expect(page.locator("#klaviyo-events")).to_contain_text("Test events of this party")
    audit.check(page, "party-events")
    page.locator("#klaviyo-events").get_by_role("button", name="Send me test events").click()
    expect(page.get_by_text("were sent moments ago")).to_be_visible()

    # Cancelling asks first, then the page says it plainly.
    page.get_by_role("link", name="Cancel party").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cancel Iguana Social?")
    audit.check(page, "party-cancel-confirm")
    page.get_by_role("button", name="Cancel the party").click()
    expect(page.get_by_text("This party was cancelled", exact=False).first).to_be_visible()
    expect(page.get_by_role("button", name="Reopen signups")).to_have_count(0)
    expect(page.get_by_role("link", name="Cancel party")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete")).to_be_visible()
    cancelled = section.get_by_role("row", name=re.compile("^Party Cancelled"))
    expect(cancelled).to_be_visible()
    audit.check(page, "party-cancelled")

    public.goto(public_url)
    expect(public.get_by_text("This party was cancelled.")).to_be_visible()
    expect(public.get_by_role("button", name="Sign up")).to_have_count(0)
    audit.check(public, "public-cancelled")
    public.goto(f"{public_url}thanks/")
    expect(public.get_by_role("heading", level=1)).to_have_text("This party was cancelled")
    audit.check(public, "public-thanks-cancelled")

    # The organization's default reminders, on its settings page.
    page.goto(f"{site}/organization/settings/")
    reminders = page.get_by_label(label("Reminders before each party, in hours"))
    expect(reminders).to_have_value("24, 2")
    reminders.fill("36, 0")
    page.get_by_role("button", name="Save").click()
    pages.expect_field_error(
        page, "Reminders before each party, in hours", "0 is not between 1 and 336 hours"
    )
    audit.check(page, "organization-reminders-error")
    page.get_by_label(label("Reminders before each party, in hours")).fill("36, 1")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved the organization's settings.")).to_be_visible()
    expect(page.get_by_label(label("Reminders before each party, in hours"))).to_have_value("36, 1")

    guest.close()
    organizer.close()
    audit.assert_clean()
