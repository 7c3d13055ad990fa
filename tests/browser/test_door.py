"""The door on a 375 px phone, in a real browser: a door-staff member logs in to the door and
nothing else, finds a guest by a few letters, checks them in and undoes it; offline, checks in
three guests that wait on the phone and are recorded once each when it is back online; a
second phone is told a guest was checked in already; a walk-in is registered and let in. axe
runs on each page at 375 and 1280 px.

No task worker runs: the door needs none, and the guests stay as written."""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Membership, Role
from door.models import CheckIn
from parties.models import Attendee, Party, Place
from tests.support import page_audit, pages
from tests.support.page_audit import PHONE, Audit
from tests.support.pages import label
from tests.support.signups import signup

WAIT_S = 10


@pytest.fixture
def door_party(make_member, make_user, make_party) -> tuple[Party, Membership]:
    owner = make_member(role=Role.OWNER)
    ana = make_user(email="ana@example.com", full_name="Ana Lopez")
    staff = Membership.objects.create(user=ana, organization=owner.organization, role=Role.DOOR)
    party = make_party(owner.organization, name="Howl-o-ween", starts_at=timezone.now())
    for email, first, last in [
        ("zoe.martin@example.com", "Zoë", "Martin"),
        ("bo.yates@example.com", "Bo", "Yates"),
        ("cleo.ng@example.com", "Cléo", "Ng"),
        ("dev.patel@example.com", "Dev", "Patel"),
        ("eli.okafor@example.com", "Eli", "Okafor"),
    ]:
        signup(party, email=email, first_name=first, last_name=last)
    waiting = signup(party, email="wait@example.com", first_name="Wendy", last_name="Waits")
    Attendee.objects.filter(pk=waiting.pk).update(place=Place.WAITLISTED)
    return party, staff


def on_phone(page: Page) -> Page:
    page.set_viewport_size(PHONE)
    return page


def standing(*emails: str) -> int:
    return CheckIn.objects.filter(attendee__email__in=emails, undone_at=None).count()


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        time.sleep(0.1)


def find(page: Page, letters: str) -> None:
    search = page.get_by_role("searchbox", name="Find a guest")
    search.fill(letters)


def status(page: Page):
    return page.locator("#door-status")


def test_door_staff_check_guests_in_from_a_phone_online_and_offline(
    browser, live_server, door_party, audit: Audit
):
    party, staff = door_party
    base = live_server.url
    context = page_audit.new_context(browser)
    page = on_phone(audit.watch(context.new_page()))

    pages.log_in(page, base, email=staff.user.email)
    expect(page).to_have_url(re.compile(r"/door/$"))
    main = page.get_by_role("main")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Door")).to_be_visible()
    expect(nav.get_by_role("link", name="Parties")).to_have_count(0)
    audit.check(page, "door-parties")
    on_phone(page)

    # Nothing else of the organization is theirs.
    for path in (f"/parties/{party.pk}/attendees.csv", "/organization/settings/"):
        response = page.goto(f"{base}{path}")
        assert response is not None
        assert response.status == 403, path
        expect(main).to_contain_text("Door staff can use only the check-in pages.")

    page.goto(f"{base}/door/")
    main.get_by_role("link", name="Check guests in at Howl-o-ween").click()
    expect(status(page)).to_have_text("Online")
    expect(page.locator(".door-count")).to_have_text("0 / 5 checked in")
    # The camera scanner (static/js/door-scan.js) is offered: this browser has a camera API.
    expect(page.get_by_role("button", name="Scan a QR code")).to_be_visible()

    # A few letters, accents ignored.
    find(page, "zo")
    results = page.get_by_role("list", name="Guests found")
    expect(results.get_by_text("Zoë Martin")).to_be_visible()
    expect(results.get_by_text("Registered")).to_be_visible()
    check = page.get_by_role("button", name="Check in Zoë Martin")
    box = check.bounding_box()
    assert box is not None
    assert box["height"] >= 48
    assert box["width"] >= 48
    check.click()
    expect(results.get_by_text(re.compile(r"^Checked in at \d\d:\d\d by Ana$"))).to_be_visible()
    expect(page.locator(".door-count")).to_have_text("1 / 5 checked in")
    wait_for(lambda: standing("zoe.martin@example.com") == 1, "Zoë's check-in recorded")
    audit.check(page, "door-checked-in")
    on_phone(page)

    page.get_by_role("button", name="Undo the check-in of Zoë Martin").click()
    expect(page.locator(".door-count")).to_have_text("0 / 5 checked in")
    wait_for(lambda: standing("zoe.martin@example.com") == 0, "the undo recorded")

    # Someone waitlisted is not theirs to let in: their status says why.
    find(page, "wendy")
    expect(results.get_by_text("On the waitlist")).to_be_visible()
    expect(results.get_by_role("button")).to_have_count(0)

    # Offline: three check-ins wait on the phone...
    context.set_offline(True)
    expect(status(page)).to_contain_text("Offline")
    expect(page.get_by_text("Walk-ins need the network")).to_be_visible()
    for letters, name in (("bo", "Bo Yates"), ("cle", "Cléo Ng"), ("dev p", "Dev Patel")):
        find(page, letters)
        page.get_by_role("button", name=f"Check in {name}").click()
    expect(status(page)).to_have_text("Offline — 3 check-ins waiting to be sent")
    expect(page.locator(".door-count")).to_have_text("3 / 5 checked in")
    audit.axe(page, "door offline (375 px)")
    time.sleep(1)
    offline_three = ("bo.yates@example.com", "cleo.ng@example.com", "dev.patel@example.com")
    assert standing(*offline_three) == 0

    # ...and are recorded once each when it is back.
    context.set_offline(False)
    expect(status(page)).to_have_text("Online")
    wait_for(lambda: standing(*offline_three) == 3, "the three offline check-ins recorded")
    assert CheckIn.objects.filter(attendee__email__in=offline_three).count() == 3

    # Logged out, the phone keeps nobody's name or address.
    stored = "() => Object.keys(localStorage).filter(k => k.startsWith('partyline-door-guests-'))"
    assert page.evaluate(stored)
    page.locator(".account-menu summary").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.wait_for_load_state("load")
    assert page.evaluate(stored) == []

    context.close()
    audit.assert_clean()


def test_a_second_phone_is_told_the_guest_is_in_already(
    browser, live_server, door_party, make_member, audit: Audit
):
    party, staff = door_party
    base = live_server.url
    colleague = make_member(role=Role.MEMBER, organization=staff.organization)
    first_context = page_audit.new_context(browser)
    second_context = page_audit.new_context(browser)
    first = on_phone(audit.watch(first_context.new_page()))
    second = on_phone(audit.watch(second_context.new_page()))
    pages.log_in(first, base, email=staff.user.email)
    pages.log_in(second, base, email=colleague.user.email)
    for page in (first, second):
        page.goto(f"{base}/parties/{party.pk}/door/")
        expect(status(page)).to_have_text("Online")
        find(page, "eli")

    first.get_by_role("button", name="Check in Eli Okafor").click()
    wait_for(lambda: standing("eli.okafor@example.com") == 1, "the first check-in recorded")
    second.get_by_role("button", name="Check in Eli Okafor").click()

    expect(second.locator("#door-message")).to_have_text(
        re.compile(r"^Already checked in at \d\d:\d\d by Ana\.$")
    )
    expect(second.get_by_text(re.compile(r"^Checked in at \d\d:\d\d by Ana$"))).to_be_visible()
    assert CheckIn.objects.filter(attendee__email="eli.okafor@example.com").count() == 1
    audit.check(second, "door-already")

    first_context.close()
    second_context.close()
    audit.assert_clean()


def test_a_walk_in_is_registered_and_let_in(browser, live_server, door_party, audit: Audit):
    party, staff = door_party
    base = live_server.url
    context = page_audit.new_context(browser)
    page = on_phone(audit.watch(context.new_page()))
    pages.log_in(page, base, email=staff.user.email)
    page.goto(f"{base}/parties/{party.pk}/door/")
    expect(status(page)).to_have_text("Online")

    page.get_by_role("link", name="Add a walk-in").click()
    page.get_by_label(label("First name")).fill("Fay")
    page.get_by_label(label("Last name (optional)")).fill("Walker")
    page.get_by_label(label("Email")).fill("fay@example.com")
    page.get_by_role("checkbox").check()
    audit.check(page, "door-walk-in")
    on_phone(page)
    page.get_by_role("button", name="Register and check in").click()

    expect(page.get_by_text("Walk-in registered: Fay Walker checked in.")).to_be_visible()
    expect(page.locator(".door-count")).to_have_text("1 / 6 checked in")
    find(page, "fay")
    expect(page.get_by_text(re.compile(r"^Checked in at \d\d:\d\d by Ana$"))).to_be_visible()
    fay = Attendee.objects.get(email="fay@example.com")
    assert fay.signup_source == "door"
    assert fay.marketing_consent is True
    assert CheckIn.objects.get(attendee=fay).walk_in

    context.close()
    audit.assert_clean()


# A stand-in for static/js/door-scan.js (its interface: `supported()`, and `start(video,
# onCode)` resolving to `stop()`): "reads" the code the test puts in `window.nextCode`.
FAKE_SCANNER = """() => {
window.PartylineDoorScan = {
  supported: () => true,
  start: (video, onCode) => {
    window.scanning = true;
    setTimeout(() => onCode(window.nextCode), 50);
    return Promise.resolve(() => { window.scanning = false; });
  },
};
}"""


def test_a_scanned_qr_code_checks_the_guest_in_even_offline(
    browser, live_server, door_party, audit: Audit
):
    party, staff = door_party
    eli = Attendee.objects.get(email="eli.okafor@example.com")
    base = live_server.url
    context = page_audit.new_context(browser)
    page = on_phone(audit.watch(context.new_page()))
    pages.log_in(page, base, email=staff.user.email)
    page.goto(f"{base}/parties/{party.pk}/door/")
    expect(status(page)).to_have_text("Online")
    # The camera stands in for by a scanner that "sees" the code the test puts before it (the
    # real scanner reading a real camera is tests/browser/test_checkin_qr.py's).
    page.evaluate(FAKE_SCANNER)
    context.set_offline(True)
    expect(status(page)).to_contain_text("Offline")

    page.evaluate("(code) => { window.nextCode = code; }", eli.checkin_code)
    page.get_by_role("button", name="Scan a QR code").click()

    expect(page.locator("#door-message")).to_have_text("Eli checked in.")
    expect(page.get_by_text(re.compile(r"^Checked in at \d\d:\d\d by Ana"))).to_be_visible()
    expect(status(page)).to_have_text("Offline — 1 check-in waiting to be sent")
    page.get_by_role("button", name="Stop scanning").click()
    assert page.evaluate("() => window.scanning") is False

    context.set_offline(False)
    wait_for(lambda: standing("eli.okafor@example.com") == 1, "the scanned check-in recorded")
    context.close()
    audit.assert_clean()
