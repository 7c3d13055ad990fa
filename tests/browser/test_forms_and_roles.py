"""Forms with errors and members without rights, in a real browser: every error sits
beside its field (and is read out with it), and a member sees no button they may not use."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Role
from parties.models import ListState, Party
from tests.support import page_audit, pages
from tests.support.page_audit import Audit
from tests.support.pages import label


def test_forms_show_each_error_beside_its_field(browser, site, audit: Audit):
    organizer = page_audit.new_context(browser)
    page = audit.watch(organizer.new_page())

    page.goto(f"{site}/accounts/signup/")
    page.get_by_label(label("Email")).fill("not-an-email")
    page.get_by_label(label("Password")).fill("a long enough password")
    page.get_by_label(label("Password again")).fill("another password")
    page.get_by_role("button", name="Create account").click()
    pages.expect_field_error(page, "Email", "Enter a valid email address")
    pages.expect_field_error(page, "Password again", "The two passwords do not match.")
    pages.expect_field_error(page, "Organization name", "Enter the organization's name.")
    audit.check(page, "signup-errors")

    pages.sign_up(page, site, email="fern@example.com", organization="Fern's Ferrets", audit=audit)
    pages.open_consent(page, site)
    pages.allow(page)

    page.goto(f"{site}/parties/new/")
    page.get_by_role("button", name="Create party").click()
    pages.expect_field_error(page, "Name", "Give the party a name.")
    pages.expect_field_error(page, "Starts at", "Say when the party starts.")
    pages.expect_field_error(page, "Address", "Enter the street address.")
    pages.expect_field_error(page, "City", "Enter the city.")
    pages.expect_field_error(page, "State or region", "Enter the state.")
    audit.check(page, "party-form-errors")

    pages.create_party(page, site, name="Ferret Fest")
    guest = page_audit.new_context(browser)
    public = audit.watch(guest.new_page())
    public.goto(pages.public_link(page))
    public.get_by_label(label("Email")).fill("guest@")
    public.get_by_role("button", name="Sign up").click()
    expect(public.get_by_role("alert")).to_contain_text("Please fix the marked fields below.")
    pages.expect_field_error(public, "First name", "Enter your first name.")
    pages.expect_field_error(public, "Email", "Enter a valid email address")
    # Marketing consent is optional: never an error, never ticked for them.
    consent = public.get_by_role("checkbox")
    expect(consent).not_to_have_attribute("aria-invalid", "true")
    expect(consent).not_to_be_checked()
    audit.check(public, "public-signup-errors")

    guest.close()
    organizer.close()
    audit.assert_clean()


def test_a_member_sees_no_management_buttons(
    browser, site, audit: Audit, make_member, make_connection
):
    owner = make_member(role=Role.OWNER)
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    connection = make_connection(owner.organization)
    party = Party.objects.create(
        organization=owner.organization,
        connection=connection,
        name="Members Only Mixer",
        starts_at=timezone.now() + timedelta(days=7),
        address="1 Bark Street",
        city="Boston",
        state="MA",
        klaviyo_list_id="LIST1",
        klaviyo_list_name="Members Only Mixer",
        list_state=ListState.READY,
    )

    context = page_audit.new_context(browser)
    page = audit.watch(context.new_page())
    pages.log_in(page, site, email=member.user.email)
    main = page.get_by_role("main")

    page.goto(f"{site}/settings/integrations/")
    expect(main.get_by_text("Only owners and admins")).to_be_visible()
    for name in ("Connect Klaviyo", "Reconnect"):
        expect(main.get_by_role("button", name=name)).to_have_count(0)
    expect(main.get_by_role("link", name="Disconnect")).to_have_count(0)
    audit.check(page, "integrations-member")

    page.goto(f"{site}/parties/")
    expect(main.get_by_role("link", name="Members Only Mixer")).to_be_visible()
    expect(main.get_by_role("link", name="New party")).to_have_count(0)
    audit.check(page, "parties-member")

    page.goto(f"{site}/parties/{party.pk}/")
    expect(main.get_by_role("heading", level=1)).to_have_text("Members Only Mixer")
    for name in ("Edit", "Check against Klaviyo", "Delete"):
        expect(main.get_by_role("link", name=name, exact=True)).to_have_count(0)
    for name in ("Close signups", "Reopen signups", "Retry"):
        expect(main.get_by_role("button", name=name)).to_have_count(0)
    expect(main.get_by_role("link", name="Export CSV")).to_be_visible()
    audit.check(page, "party-member")

    page.goto(f"{site}/organization/members/")
    expect(main.get_by_role("button", name="Send invite")).to_have_count(0)
    audit.check(page, "members-member")

    context.close()
    audit.assert_clean()
