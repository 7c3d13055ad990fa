"""A connection made before Partyline sent lifecycle events, in a real browser: Integrations
and the connection's page say its events wait for permissions it lacks (desktop and phone
widths, axe), and reconnecting grants them and clears the notice."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import User
from integrations.klaviyo.config import EVENT_SCOPES, LIST_SCOPES
from integrations.models import KlaviyoConnection
from integrations.scopes import events_missing_scopes
from tests.support import page_audit, pages
from tests.support.page_audit import Audit

EMAIL = "ella@example.com"


def test_a_connection_lacking_event_scopes_says_what_waits_and_reconnecting_grants_them(
    browser, site, audit: Audit
):
    organizer = page_audit.new_context(browser)
    page = audit.watch(organizer.new_page())
    pages.sign_up(page, site, email=EMAIL, organization="Ella's Events", audit=audit)
    User.objects.filter(email=EMAIL).update(is_staff=True)
    pages.open_consent(page, site)
    pages.allow(page)
    # As granted before Partyline asked for the event scopes.
    KlaviyoConnection.objects.update(scopes=list(LIST_SCOPES))

    page.goto(f"{site}/settings/integrations/")
    notice = page.get_by_text("Lifecycle events wait")
    expect(notice).to_contain_text(", ".join(EVENT_SCOPES))
    expect(notice).to_contain_text("the events that start your Klaviyo flows")
    rows = page.get_by_role("table").locator("tbody tr.connection-row")
    expect(rows).to_contain_text("Active")
    reconnect = page.get_by_role("button", name="Reconnect")
    # The button says what it is for to a screen reader: the notice describes it.
    expect(reconnect).to_have_accessible_description(
        re.compile(f"^Lifecycle events wait: .*{re.escape(', '.join(EVENT_SCOPES))}")
    )
    audit.check(page, "integrations-events-waiting")

    # The connection's own page says it outside any table: in full on a phone too.
    page.get_by_role("link", name="Acme Pets").click()
    expect(page.get_by_text("Lifecycle events wait")).to_contain_text(", ".join(EVENT_SCOPES))
    audit.check(page, "connection-events-waiting")
    page.get_by_role("button", name="Reconnect").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("wants to connect")
    pages.allow(page)
    expect(page.get_by_text("Reconnected Acme Pets.")).to_be_visible()
    expect(page.get_by_text("Lifecycle events wait")).to_have_count(0)
    expect(page.get_by_role("button", name="Reconnect")).to_have_count(0)
    audit.check(page, "integrations-events-granted")
    assert events_missing_scopes(KlaviyoConnection.objects.get()) == []

    organizer.close()
    audit.assert_clean()
