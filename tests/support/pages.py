"""The steps browser journeys take on Partyline's pages: signing up, logging in, connecting
Klaviyo, creating a party, an attendee signing up, and reading a page as a person would."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Locator, Page, expect

from tests.support.accounts import PASSWORD
from tests.support.page_audit import Audit


def label(text: str) -> re.Pattern[str]:
    """A field's label exactly, with or without the colon Django's forms add."""
    return re.compile(rf"^{re.escape(text)}:?$")


def sign_up(page: Page, base: str, *, email: str, organization: str, audit: Audit) -> None:
    """An organizer creates an account (and an organization) on the signup page."""
    page.goto(f"{base}/accounts/signup/")
    audit.check(page, "signup")
    page.get_by_label(label("Email")).fill(email)
    page.get_by_label(label("Password")).fill(PASSWORD)
    page.get_by_label(label("Password again")).fill(PASSWORD)
    page.get_by_label(label("Organization name")).fill(organization)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Your account and organization are ready.")).to_be_visible()


def log_in(page: Page, base: str, *, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label(label("Email")).fill(email)
    page.get_by_label(label("Password")).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def open_consent(page: Page, base: str, *, button: str = "Connect Klaviyo") -> None:
    """From Integrations, on to the sandbox Klaviyo's consent page."""
    page.goto(f"{base}/settings/integrations/")
    page.get_by_role("button", name=button).click()
    expect(page).to_have_url(re.compile(r"/sandbox/klaviyo/oauth/authorize"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("wants to connect")


def allow(page: Page, *, account: str = "Acme Pets") -> None:
    """Choose the Klaviyo account and click Allow on the consent page."""
    page.get_by_label(account).check()
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(re.compile(r"/settings/integrations/"))


def create_party(page: Page, base: str, *, name: str, audit: Audit | None = None) -> str:
    """Fill in the new-party form; returns the party page's URL."""
    page.goto(f"{base}/parties/new/")
    if audit is not None:
        audit.check(page, "party-form")
    page.get_by_label(label("Name")).fill(name)
    page.get_by_label(label("Starts at")).fill("2031-07-04T18:30")
    page.get_by_label(label("Address")).fill("1 Bark Street")
    page.get_by_label(label("City")).fill("Boston")
    page.get_by_label(label("State or region")).fill("MA")
    page.get_by_label(label("Description (optional)")).fill("Costumes encouraged.")
    page.get_by_role("button", name="Create party").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page).to_have_url(re.compile(r"/parties/\d+/$"))
    return page.url


def public_link(page: Page) -> str:
    """The party page's public signup link."""
    return page.get_by_label("Public signup link").input_value()


def sign_up_attendee(
    page: Page, url: str, *, email: str, first_name: str, pet: str, button: str = "Sign up"
) -> None:
    page.goto(url)
    page.get_by_label(label("First name")).fill(first_name)
    page.get_by_label(label("Email")).fill(email)
    page.get_by_label(label("Pet's name (optional)")).fill(pet)
    page.get_by_label(label("Pet type (optional)")).fill("Dog")
    page.get_by_label(re.compile("may also email me about future events")).check()
    page.get_by_role("button", name=button).click()
    expect(page).to_have_url(re.compile(r"/thanks/$"))


def attendee_row(page: Page, email: str) -> Locator:
    return page.locator("#attendees tbody tr").filter(has_text=email)


def expect_field_error(page: Page, field_label: str, error: str | re.Pattern[str]) -> None:
    """The error is shown beside its field and read out with it: in the field's own block,
    and as the input's accessible description (`aria-describedby`), with `aria-invalid`."""
    field = page.get_by_label(label(field_label))
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(
        error if isinstance(error, re.Pattern) else re.compile(re.escape(error))
    )
    block = page.locator(".field").filter(has=field)
    expect(block.locator(".errorlist")).to_contain_text(error)


def reload_until_visible(page: Page, locator: Locator, *, seconds: float = 15) -> None:
    """Reload the page until the locator shows (for what a page does not refresh by itself)."""
    deadline = time.monotonic() + seconds
    while not (locator.count() and locator.first.is_visible()):
        if time.monotonic() > deadline:
            expect(locator.first).to_be_visible(timeout=1)  # fails, saying what was missing
        page.wait_for_timeout(500)
        page.reload()
