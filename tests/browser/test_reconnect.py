"""A connection that breaks, in a real browser: the app is uninstalled in the sandbox
Klaviyo's UI, the next sync finds out, every page that depends on it explains why work is
paused, and reconnecting the same account updates that connection and resumes the party."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from accounts.models import User
from tests.support import page_audit, pages
from tests.support.page_audit import Audit

EMAIL = "rita@example.com"


def way_to_reconnect(page: Page) -> Locator:
    """A Reconnect button, or a link on to reconnecting (Integrations)."""
    main = page.get_by_role("main")
    return main.get_by_role("button", name=re.compile("reconnect", re.I)).or_(
        main.get_by_role("link", name=re.compile("reconnect|integrations", re.I))
    )


def test_uninstalled_app_is_explained_everywhere_and_reconnecting_resumes_the_party(
    browser, site, audit: Audit
):
    organizer = page_audit.new_context(browser)
    page = audit.watch(organizer.new_page())
    pages.sign_up(page, site, email=EMAIL, organization="Rita's Rescue", audit=audit)
    # Outside DEBUG the sandbox's pages are for staff: the organizer plays Klaviyo's user too.
    User.objects.filter(email=EMAIL).update(is_staff=True)
    pages.open_consent(page, site)
    pages.allow(page)
    party_url = pages.create_party(page, site, name="Paws in the Park")
    link = pages.public_link(page)

    guest = page_audit.new_context(browser)
    public = audit.watch(guest.new_page())
    pages.sign_up_attendee(public, link, email="first@example.com", first_name="Fay", pet="Rex")
    pages.reload_until_visible(
        page, pages.attendee_row(page, "first@example.com").filter(has_text="In the list")
    )

    # Klaviyo's side: the account's owner removes the app.
    page.goto(f"{site}/sandbox/klaviyo/")
    audit.check(page, "sandbox-home")
    page.get_by_role("link", name="Acme Pets").click()
    audit.check(page, "sandbox-account")
    page.get_by_role("button", name="Uninstall").click()
    expect(page.get_by_text("App uninstalled")).to_be_visible()

    # The next signup's sync meets the revoked tokens.
    pages.sign_up_attendee(public, link, email="second@example.com", first_name="Sam", pet="Tig")

    page.goto(f"{site}/settings/integrations/")
    pages.reload_until_visible(page, page.get_by_text("Needs reconnect"))
    expect(
        page.get_by_text("Parties using it are paused and keep their signups").first
    ).to_be_visible()
    expect(page.get_by_role("button", name="Reconnect")).to_be_visible()
    audit.check(page, "integrations-needs-reconnect")

    page.goto(f"{site}/parties/")
    expect(
        page.get_by_role("main").get_by_text("reconnect", exact=False).first,
        "the parties list says the party's connection needs reconnecting",
    ).to_be_visible()
    expect(way_to_reconnect(page).first).to_be_visible()
    audit.check(page, "parties-needs-reconnect")

    page.goto(party_url)
    expect(page.get_by_text("Syncing is paused")).to_contain_text("needs reconnecting")
    expect(way_to_reconnect(page).first).to_be_visible()
    expect(pages.attendee_row(page, "second@example.com")).to_contain_text("Waiting")
    audit.check(page, "party-paused")

    page.goto(f"{site}/settings/integrations/")
    page.get_by_role("button", name="Reconnect").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("wants to connect")
    pages.allow(page)
    expect(page.get_by_text("Reconnected Acme Pets.")).to_be_visible()
    rows = page.get_by_role("table").locator("tbody tr")
    expect(rows, "the same connection, updated, not a second one").to_have_count(1)
    expect(rows).to_contain_text("Active")
    audit.check(page, "integrations-reconnected")

    page.goto(party_url)
    expect(page.get_by_text("Syncing is paused")).to_have_count(0)
    pages.reload_until_visible(
        page, pages.attendee_row(page, "second@example.com").filter(has_text="In the list")
    )
    audit.check(page, "party-resumed")

    guest.close()
    organizer.close()
    audit.assert_clean()
