"""Klaviyo deletion in a real browser: an owner turns it on in the organization's settings,
is told which connection to reconnect, reconnects it granting `data-privacy:write` on
Klaviyo's consent page, and an admin sees the option read-only."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Organization, Role
from integrations.models import KlaviyoConnection
from tests.support import page_audit, pages
from tests.support.page_audit import Audit
from tests.support.pages import label

OPTION = label("Also ask Klaviyo to delete an erased person's profile")
WAITING = "Partyline cannot ask Klaviyo to delete profiles"


def test_an_owner_turns_it_on_and_reconnects_and_an_admin_sees_it_read_only(
    browser, site, audit: Audit, make_member
):
    owner = page_audit.new_context(browser)
    page = audit.watch(owner.new_page())
    pages.sign_up(page, site, email="dora@example.com", organization="Dora's Dogs", audit=audit)
    pages.open_consent(page, site)
    pages.allow(page)
    main = page.get_by_role("main")

    page.goto(f"{site}/organization/settings/")
    option = main.get_by_role("checkbox", name=OPTION)
    expect(option).to_be_enabled()
    expect(option).not_to_be_checked()
    expect(option).to_have_accessible_description(
        re.compile(
            "from your whole Klaviyo account: every list, every event and every flow history"
        )
    )
    audit.check(page, "organization-settings")
    option.check()
    main.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text(
        "reconnect Acme Pets on the Integrations page to grant Partyline data-privacy:write"
    )
    expect(main.get_by_role("checkbox", name=OPTION)).to_be_checked()
    audit.check(page, "organization-settings-deletion-on")

    page.get_by_role("status").get_by_role("link", name="Integrations page").click()
    expect(main.get_by_text(WAITING)).to_be_visible()
    audit.check(page, "integrations-deletion-waiting")
    main.get_by_role("button", name="Reconnect").click()
    expect(page.get_by_text("Delete profiles from your account")).to_be_visible()
    pages.allow(page)
    expect(main.get_by_text(WAITING)).to_have_count(0)
    assert "data-privacy:write" in KlaviyoConnection.objects.get().scopes

    organization = Organization.objects.get(name="Dora's Dogs")
    admin = make_member(role=Role.ADMIN, organization=organization)
    colleague = page_audit.new_context(browser)
    other = audit.watch(colleague.new_page())
    pages.log_in(other, site, email=admin.user.email)
    other.goto(f"{site}/organization/settings/")
    read_only = other.get_by_role("main").get_by_role("checkbox", name=OPTION)
    expect(read_only).to_be_checked()
    expect(read_only).to_be_disabled()
    expect(read_only).to_have_accessible_description(re.compile(r"Only owners change it\.$"))
    audit.check(other, "organization-settings-admin")

    colleague.close()
    owner.close()
    audit.assert_clean()
