"""Signup questions in a real browser, with axe at desktop and phone widths: an organizer adds
a multiple-choice question and a required checkbox, moves one up, a guest answers them (a
refused form keeps what they ticked), sees their answers on their own page, and the organizer
sees them on the party page; then the party is duplicated with its questions."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support import page_audit, pages
from tests.support.page_audit import Audit


def test_an_organizer_asks_their_own_questions_and_a_guest_answers_them(
    browser, site, audit: Audit
):
    organizer = page_audit.new_context(browser)
    page = audit.watch(organizer.new_page())
    pages.sign_up(
        page, site, email="quinn@example.com", organization="Quinn's Quokkas", audit=audit
    )
    pages.open_consent(page, site)
    pages.allow(page)
    pages.create_party(page, site, name="Quokka Quiz")
    party_url = page.url
    link = pages.public_link(page)

    page.get_by_role("link", name="Signup questions").click()
    audit.check(page, "questions")
    page.get_by_label(pages.label("Question")).fill("Dietary needs")
    page.get_by_label(pages.label("Answer")).select_option("Multiple choice")
    page.get_by_label(re.compile("^Options")).fill("Vegetarian\nVegan\nGluten-free")
    page.get_by_label(re.compile("^Klaviyo profile property")).fill("Diet")
    page.get_by_role("button", name="Add question").click()
    expect(page.get_by_text("Its answers go to Klaviyo as dietary_needs")).to_be_visible()
    page.get_by_label(pages.label("Question")).fill("I'll follow the house rules")
    page.get_by_label(pages.label("Answer")).select_option("Checkbox")
    page.get_by_label(pages.label("Required")).check()
    page.get_by_role("button", name="Add question").click()
    page.get_by_role("button", name="Move “Dietary needs” up").click()
    questions = page.get_by_role("region", name="Questions")
    expect(questions.locator("tbody tr").nth(1)).to_contain_text("Dietary needs")
    expect(questions.locator("tbody tr").nth(1)).to_contain_text("diet")
    audit.check(page, "questions-added")

    guest = audit.watch(page_audit.new_context(browser).new_page())
    guest.goto(link)
    guest.get_by_label(pages.label("First name")).fill("Gus")
    guest.get_by_label(pages.label("Email")).fill("gus@example.com")
    guest.get_by_label("Vegan").check()
    guest.get_by_label("Gluten-free").check()
    guest.get_by_role("button", name="Sign up").click()
    # The required box was left unticked: refused, with what they ticked kept.
    expect(guest.get_by_text("Tick this box to sign up.")).to_be_visible()
    expect(guest.get_by_label("Vegan")).to_be_checked()
    audit.check(guest, "signup-questions-refused")
    guest.get_by_label("I'll follow the house rules").check()
    guest.get_by_role("button", name="Sign up").click()
    expect(guest).to_have_url(re.compile(r"/thanks/$"))
    guest.get_by_role("link", name="your registration's page").click()
    expect(guest.get_by_label("Gluten-free")).to_be_checked()
    audit.check(guest, "manage-questions")

    page.goto(party_url)
    row = pages.attendee_row(page, "gus@example.com")
    expect(row).to_contain_text("Dietary needs: Vegan, Gluten-free")
    expect(row).to_contain_text("I'll follow the house rules: Yes")

    page.get_by_role("link", name="Duplicate").click()
    expect(page.get_by_label(pages.label("Name"))).to_have_value("Quokka Quiz (copy)")
    expect(page.get_by_text("its 4 signup questions come with it")).to_be_visible()
    audit.check(page, "duplicate")
    page.get_by_role("button", name="Create party").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Quokka Quiz (copy)")
    page.get_by_role("link", name="Signup questions").click()
    expect(page.get_by_role("region", name="Questions")).to_contain_text("Dietary needs")

    audit.assert_clean()
