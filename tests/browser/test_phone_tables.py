"""Tables of people, connections and parties in a real browser. On a 375 px phone each row
reads as a card whose name, state and actions are in view, with no sideways scrolling, of the
page or inside a table's region; at 1280 px a value someone typed as one unbroken word of a
hundred characters keeps the columns after it in view and its row short. The admin and the
guest's own pages wrap such a value too.

The rows are written straight to the database and no worker runs, so they stay as written
while the pages are measured.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page, expect

from accounts import services as account_services
from accounts.models import Membership, Role
from integrations.models import ConnectionStatus, KlaviyoConnection
from parties.models import Party, Place, SyncState
from tests.support import page_audit, pages
from tests.support.accounts import PASSWORD
from tests.support.page_audit import DESKTOP, PHONE, Audit

# The longest first name, last name and pet name the signup form takes, as one word; and an
# email as long as its parts may be.
UNBROKEN = "x" * 100
LONG_EMAIL = f"{'y' * 64}@{'z' * 63}.example.com"
LONG_EMAIL_WAITING = f"{'w' * 64}@{'z' * 63}.example.com"
# A row with such a value stays this short at 1280 px: two lines of it.
ROW_HEIGHT_LIMIT = 120

# The page's width, and each table region whose content is wider than the region.
SIDEWAYS = """() => ({
  page: document.documentElement.scrollWidth,
  regions: [...document.querySelectorAll(".table-wrap")]
    .filter((wrap) => wrap.scrollWidth > wrap.clientWidth)
    .map((wrap) => `${wrap.getAttribute("aria-label")}: ${wrap.scrollWidth} > ${wrap.clientWidth}`),
})"""
# The element's left and right edges, and those of each box around it that would clip it (a
# table region scrolled sideways hides what sticks out of it).
EDGES = """(element) => {
  const edges = (box) => [box.left, box.right];
  const clips = [];
  for (let box = element.parentElement; box; box = box.parentElement) {
    const clipping = getComputedStyle(box).overflowX !== "visible";
    if (clipping) clips.push(edges(box.getBoundingClientRect()));
  }
  return {own: edges(element.getBoundingClientRect()), clips};
}"""


@pytest.fixture
def organizer(make_member, make_connection, make_party, make_attendee) -> Membership:
    """An owner whose organization has an admin, a member and an invite waiting, a working
    Klaviyo connection and one to reconnect, an API token, and a full party with an attendee in
    the list, one Klaviyo rejected and one on the waitlist."""
    owner = make_member(role=Role.OWNER)
    organization = owner.organization
    for role in (Role.ADMIN, Role.MEMBER):
        make_member(role=role, organization=organization)
    account_services.invite_create(
        organization=organization, email="newcomer@example.com", role=Role.MEMBER, invited_by=owner
    )
    account_services.api_token_create(membership=owner, name="Nightly export")
    connection = make_connection(organization)
    make_connection(organization, status=ConnectionStatus.NEEDS_RECONNECT)
    party = make_party(connection=connection, name="Howl-o-ween", capacity=2)
    now = timezone.now()
    make_attendee(
        party,
        "gus@example.com",
        first_name="Gus",
        last_name="Smith",
        pet_name="Biscuit",
        pet_type="Dog",
        sync_state=SyncState.SYNCED,
        sent_at=now,
        synced_at=now,
    )
    make_attendee(
        party,
        "fay@example.com",
        sync_state=SyncState.FAILED,
        state_reason="Invalid email address",
        sent_at=now,
    )
    make_attendee(
        party, "wes@example.com", place=Place.WAITLISTED, waitlisted_at=now - timedelta(hours=1)
    )
    return owner


def logged_in(browser: Browser, base: str, membership: Membership, audit: Audit) -> Page:
    page = audit.watch(page_audit.new_context(browser).new_page())
    pages.log_in(page, base, email=membership.user.email)
    return page


def expect_no_sideways_scroll(page: Page) -> None:
    # The stylesheet in: a click's navigation may be measured before it applies, when the
    # page is unstyled and a long word is as wide as it is long.
    page.wait_for_load_state("load")
    width = page.viewport_size["width"]
    found = page.evaluate(SIDEWAYS)
    assert found["page"] <= width, f"{page.url} scrolls sideways: {found['page']} > {width}"
    assert not found["regions"], f"tables scroll sideways in their region: {found['regions']}"


def expect_in_view(locator: Locator) -> None:
    """Shown, within the viewport's width and within the table region around it: seen with no
    sideways scrolling."""
    expect(locator).to_be_visible()
    width = locator.page.viewport_size["width"]
    found = locator.evaluate(EDGES)
    left, right = found["own"]
    assert 0 <= left <= right <= width, (
        f"{locator} spans {left:.0f}..{right:.0f} px, not 0..{width}"
    )
    for clip_left, clip_right in found["clips"]:
        assert clip_left - 1 <= left <= right <= clip_right + 1, (
            f"{locator} spans {left:.0f}..{right:.0f} px, past its region's "
            f"{clip_left:.0f}..{clip_right:.0f}: it is scrolled out of sight"
        )


def accessibility_tree(page: Page) -> list[tuple[str, str]]:
    """(role, name) of each node Chromium gives screen readers, for the page as laid out now."""
    session = page.context.new_cdp_session(page)
    try:
        nodes = session.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        session.detach()
    return [
        (node.get("role", {}).get("value", ""), node.get("name", {}).get("value", ""))
        for node in nodes
    ]


def row(page: Page, region: str, text: str) -> Locator:
    return page.get_by_role("region", name=region).get_by_role("row").filter(has_text=text)


def expect_cells_in_view(table_row: Locator) -> None:
    for cell in table_row.get_by_role("cell").all():
        expect_in_view(cell)


def test_the_party_page_on_a_phone_shows_each_attendee_state_and_actions(
    browser, live_server, organizer, audit: Audit
):
    page = logged_in(browser, live_server.url, organizer, audit)
    party = Party.objects.get(organization=organizer.organization)
    page.goto(f"{live_server.url}/parties/{party.pk}/")
    page.set_viewport_size(PHONE)

    states = {
        "gus@example.com": "In the list",
        "fay@example.com": "Rejected by Klaviyo",
        "wes@example.com": "Waiting",
    }
    for email, state in states.items():
        attendee = pages.attendee_row(page, email)
        expect_cells_in_view(attendee)
        expect_in_view(attendee.get_by_text(email, exact=True))
        expect_in_view(attendee.get_by_text(state, exact=True))
        expect_in_view(attendee.get_by_role("link", name=f"Cancel registration of {email}"))
        expect_in_view(attendee.get_by_role("button", name=f"New private link for {email}"))
    expect_in_view(pages.attendee_row(page, "fay@example.com").get_by_role("button", name="Retry"))
    waiting = row(page, "Waitlist", "wes@example.com")
    expect_cells_in_view(waiting)
    expect_in_view(waiting.get_by_role("button", name="Register now: wes@example.com"))
    expect_in_view(waiting.get_by_role("button", name="Remove wes@example.com from the waitlist"))
    expect_no_sideways_scroll(page)

    # Still a table to a screen reader, whose cells say their value once (the header names
    # the column; the card's visible label is not read again).
    tree = accessibility_tree(page)
    assert ("columnheader", "Klaviyo") in tree
    assert ("cell", "Gus Smith") in tree
    audit.axe(page, "party page at 375 px")
    page.screenshot(path=audit.shots / "phone-party.png", full_page=True)
    audit.assert_clean()


def test_integrations_on_a_phone_shows_each_connection_status_and_actions(
    browser, live_server, organizer, audit: Audit
):
    page = logged_in(browser, live_server.url, organizer, audit)
    page.goto(f"{live_server.url}/settings/integrations/")
    page.set_viewport_size(PHONE)

    statuses = {
        ConnectionStatus.ACTIVE: "Active",
        ConnectionStatus.NEEDS_RECONNECT: "Needs reconnect",
    }
    for connection in KlaviyoConnection.objects.filter(organization=organizer.organization):
        connection_row = page.locator(f"#connection-{connection.pk}")
        expect_cells_in_view(connection_row)  # connected, last refresh, last call among them
        name = connection.klaviyo_organization_name
        expect_in_view(connection_row.get_by_role("link", name=name))
        expect_in_view(connection_row.get_by_text(statuses[connection.status], exact=True))
        expect_in_view(connection_row.get_by_role("link", name="Disconnect"))
        if connection.status == ConnectionStatus.NEEDS_RECONNECT:
            expect_in_view(connection_row.get_by_role("button", name="Reconnect"))
    expect_no_sideways_scroll(page)

    audit.axe(page, "integrations at 375 px")
    page.screenshot(path=audit.shots / "phone-integrations.png", full_page=True)
    audit.assert_clean()


def test_members_on_a_phone_shows_each_role_and_actions(
    browser, live_server, organizer, audit: Audit
):
    page = logged_in(browser, live_server.url, organizer, audit)
    page.goto(f"{live_server.url}/organization/members/")
    page.set_viewport_size(PHONE)

    for membership in organizer.organization.memberships.select_related("user"):
        email = membership.user.email
        member = row(page, "People", email)
        expect_cells_in_view(member)
        expect_in_view(member.get_by_text(email, exact=True))
        expect_in_view(member.get_by_label(f"Role of {email}"))
        expect_in_view(member.get_by_role("button", name="Save"))
        if membership == organizer:
            expect_in_view(member.get_by_text("Only owner"))
        else:
            expect_in_view(member.get_by_role("link", name="Remove"))
    invite = row(page, "Pending invites", "newcomer@example.com")
    expect_cells_in_view(invite)
    expect_in_view(invite.get_by_text("Member", exact=True))
    expect_in_view(invite.get_by_role("button", name="Withdraw"))
    expect_no_sideways_scroll(page)

    audit.axe(page, "members at 375 px")
    page.screenshot(path=audit.shots / "phone-members.png", full_page=True)
    audit.assert_clean()


def test_parties_home_and_api_tokens_on_a_phone_show_each_row_whole(
    browser, live_server, organizer, audit: Audit
):
    page = logged_in(browser, live_server.url, organizer, audit)
    page.set_viewport_size(PHONE)

    page.goto(f"{live_server.url}/parties/")
    party = row(page, "Parties", "Howl-o-ween")
    expect_cells_in_view(party)  # its counts among them
    expect_in_view(party.get_by_role("link", name="Howl-o-ween"))
    expect_in_view(party.get_by_text("Signups open", exact=True))
    expect_no_sideways_scroll(page)
    audit.axe(page, "parties at 375 px")

    page.goto(f"{live_server.url}/")
    upcoming = row(page, "Upcoming parties", "Howl-o-ween")
    expect_cells_in_view(upcoming)
    expect_in_view(upcoming.get_by_role("link", name="Howl-o-ween"))
    expect_no_sideways_scroll(page)
    audit.axe(page, "home at 375 px")

    page.goto(f"{live_server.url}/settings/api-tokens/")
    token = row(page, "Your tokens", "Nightly export")
    expect_cells_in_view(token)
    expect_in_view(token.get_by_role("button", name="Revoke"))
    expect_no_sideways_scroll(page)
    audit.axe(page, "API tokens at 375 px")
    audit.assert_clean()


def test_a_hundred_character_word_keeps_the_columns_after_it_in_view(
    browser, live_server, organizer, make_attendee, make_member, make_user, audit: Audit
):
    party = Party.objects.get(organization=organizer.organization)
    party.capacity = 3  # a place for one more, registered
    party.save(update_fields=["capacity"])
    make_attendee(
        party,
        LONG_EMAIL,
        first_name=UNBROKEN,
        last_name=UNBROKEN,
        pet_name=UNBROKEN,
        pet_type="Dog",
        sync_state=SyncState.SYNCED,
        synced_at=timezone.now(),
    )
    make_attendee(
        party,
        LONG_EMAIL_WAITING,
        first_name=UNBROKEN,
        last_name=UNBROKEN,
        place=Place.WAITLISTED,
        waitlisted_at=timezone.now(),
    )
    make_member(
        role=Role.MEMBER, organization=organizer.organization, user=make_user(email=LONG_EMAIL)
    )
    page = logged_in(browser, live_server.url, organizer, audit)
    page.set_viewport_size(DESKTOP)

    page.goto(f"{live_server.url}/parties/{party.pk}/")
    attendees = page.get_by_role("region", name="Attendees")
    for column in ("Answers", "Signed up", "Place", "Klaviyo"):
        expect_in_view(attendees.get_by_role("columnheader", name=column, exact=True))
    attendee = pages.attendee_row(page, LONG_EMAIL)
    # Cut to two lines, the whole value in its title.
    expect(attendee.get_by_title(f"{UNBROKEN} {UNBROKEN}")).to_be_visible()
    assert attendee.bounding_box()["height"] < ROW_HEIGHT_LIMIT
    waiting = row(page, "Waitlist", LONG_EMAIL_WAITING)
    expect_in_view(waiting.get_by_role("button", name=f"Register now: {LONG_EMAIL_WAITING}"))
    assert waiting.bounding_box()["height"] < ROW_HEIGHT_LIMIT
    # The attendees' events and actions may scroll inside their region, not the page.
    assert page.evaluate(SIDEWAYS)["page"] <= DESKTOP["width"]

    page.goto(f"{live_server.url}/organization/members/")
    member = row(page, "People", LONG_EMAIL)
    expect_in_view(member.get_by_label(f"Role of {LONG_EMAIL}"))
    expect_in_view(member.get_by_role("link", name="Remove"))
    expect_no_sideways_scroll(page)
    audit.assert_clean()


def test_the_guest_pages_wrap_a_hundred_character_word(
    browser, live_server, make_party, audit: Audit
):
    party = make_party(name="Howl-o-ween")
    page = audit.watch(page_audit.new_context(browser).new_page())
    pages.sign_up_attendee(
        page,
        f"{live_server.url}/p/{party.slug}/",
        email=LONG_EMAIL,
        first_name=UNBROKEN,
        pet=UNBROKEN,
    )
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        expect_no_sideways_scroll(page)

    page.get_by_role("link", name="your registration's page").click()
    expect(page.get_by_text(f"For {UNBROKEN} ({LONG_EMAIL})")).to_be_visible()
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        expect_no_sideways_scroll(page)
    audit.assert_clean()


def test_the_admin_wraps_a_long_email_beside_its_columns(
    browser, live_server, make_user, make_party, make_attendee
):
    make_user(email="operator@example.com", is_staff=True, is_superuser=True)
    attendee = make_attendee(
        make_party(), LONG_EMAIL, first_name=UNBROKEN, state_reason="Invalid email address"
    )
    page = page_audit.new_context(browser).new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.locator("#id_username").fill("operator@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    page.goto(f"{live_server.url}/admin/parties/attendee/")
    for column in ("Party", "Place", "Sync state", "State reason", "In the list since"):
        expect_in_view(page.get_by_role("columnheader", name=column, exact=True))
    page.goto(f"{live_server.url}/admin/parties/attendee/{attendee.pk}/change/")
    expect_no_sideways_scroll(page)
