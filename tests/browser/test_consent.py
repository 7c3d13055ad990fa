"""Declining on Klaviyo's consent page, in a real browser: the organizer is told nothing was
connected, and "Try again" goes back to the consent page, where Allow connects."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support import page_audit, pages
from tests.support.page_audit import Audit


def test_deny_at_consent_explains_and_try_again_connects(browser, site, audit: Audit):
    context = page_audit.new_context(browser)
    page = audit.watch(context.new_page())
    pages.sign_up(page, site, email="dana@example.com", organization="Dana's Daycare", audit=audit)

    pages.open_consent(page, site)
    page.get_by_role("button", name="Deny").click()
    expect(page).to_have_url(re.compile(r"/integrations/klaviyo/callback/\?.*error=access_denied"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Klaviyo was not connected")
    expect(page.get_by_role("alert")).to_contain_text("You declined on Klaviyo's page")
    audit.check(page, "declined")

    page.get_by_role("button", name="Try again").click()
    try:
        expect(page).to_have_url(re.compile(r"/sandbox/klaviyo/oauth/authorize"))
    except AssertionError:
        heading = page.get_by_role("heading", level=1).first.text_content()
        audit.problem(
            "declined page (/integrations/klaviyo/callback/?error=access_denied): its "
            f"'Try again' button did not reach the consent page but answered {heading!r}"
        )
        pages.open_consent(page, site)  # the other way back, so the journey goes on
    pages.allow(page)
    expect(page.get_by_text("Connected Acme Pets.")).to_be_visible()
    expect(page.get_by_role("table").get_by_text("Active")).to_be_visible()

    context.close()
    audit.assert_clean()
