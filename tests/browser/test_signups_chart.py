"""Signups over time on the party page, in a real browser: the chart and its table pass axe and
fit a 375 px phone without sideways scrolling, and the numbers someone opened stay open while
the page follows new signups.

The rows are written straight to the database and no worker runs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Membership
from parties.models import Attendee, Party, Place
from tests.support import page_audit, pages
from tests.support.page_audit import PHONE, Audit


@pytest.fixture
def party(owner, make_party, make_attendee) -> Party:
    """A day and a half of signups: a rush, a waitlist once full, and a few cancellations."""
    party = make_party(owner.organization, name="Howl-o-ween", capacity=8)
    now = timezone.now()
    for number in range(14):
        hours_ago = 36 - number * 2 if number < 10 else 3
        moment = now - timedelta(hours=hours_ago)
        attendee = make_attendee(party, f"guest{number}@example.com")
        waiting = number >= 8
        cancelled = number in (2, 5)
        place = Place.WAITLISTED if waiting else Place.REGISTERED
        Attendee.objects.filter(pk=attendee.pk).update(
            created_at=moment,
            place=Place.CANCELLED if cancelled else place,
            waitlisted_at=moment if waiting else None,
            cancelled_at=moment + timedelta(hours=5) if cancelled else None,
        )
    return party


def logged_in(browser, base: str, membership: Membership, audit: Audit) -> Page:
    page = audit.watch(page_audit.new_context(browser).new_page())
    pages.log_in(page, base, email=membership.user.email)
    return page


def test_the_chart_and_its_numbers_read_on_a_phone_and_stay_open_as_signups_come(
    browser, live_server, owner, party, make_attendee, audit: Audit
):
    page = logged_in(browser, live_server.url, owner, audit)
    page.goto(f"{live_server.url}/parties/{party.pk}/")
    chart = page.locator("#signups-over-time")
    expect(chart.get_by_role("img", name="Signups per hour")).to_be_visible()
    expect(chart.get_by_role("img", name="Waitlist joins per hour")).to_be_visible()
    expect(chart.get_by_role("img", name="Cancellations per hour")).to_be_visible()
    audit.check(page, "party-signups-chart")

    page.set_viewport_size(PHONE)
    chart.get_by_text("Show the numbers").click()
    numbers = chart.get_by_role("table", name=re.compile("per hour"))
    expect(numbers).to_be_visible()
    expect(numbers.get_by_role("columnheader", name="Cancellations")).to_be_attached()
    audit.check(page, "party-signups-numbers")  # axe, and no sideways scroll at 375 px

    # A new signup: the live chart counts it, and the numbers stay open.
    make_attendee(party, "late@example.com")
    expect(chart.locator(".chart-signups .chart-label")).to_contain_text(
        "Signups: 15", timeout=10_000
    )
    expect(chart.locator("#chart-numbers")).to_have_attribute("open", "")
    expect(numbers).to_be_visible()
    audit.assert_clean()
