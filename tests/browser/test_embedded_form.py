"""The signup form embedded in an organizer's own site, in a real browser: the organizer allows
their site in Settings and copies the snippet from the party page; a page of that site (another
origin: 127.0.0.1, where Partyline is localhost) shows the form, sized to it, in a browser
keeping no third-party cookie; a guest signs up inside it, sees the thank-you and opens their
own page in a new tab. The same page on a site not allowed gets no form."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from parties.models import Attendee, SignupSource
from tests.support import page_audit, pages
from tests.support.chromium import CHROMIUM_ARGS, chromium_path
from tests.support.page_audit import Audit
from tests.support.pages import label

# An organizer's own page around the snippet (its own styles: it is their site).
SITE_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Pets: Ferret Fair</title>
<style>
  body { margin: 0; font-family: Georgia, serif; background: #fbf7ef; color: #2b2118; }
  header { background: #2b2118; color: #fbf7ef; padding: 1rem 1.5rem; font-size: 1.25rem; }
  main { max-width: 40rem; margin: 0 auto; padding: 1.5rem 1rem; }
</style>
</head>
<body>
<header>Acme Pets</header>
<main>
<h1>Ferret Fair</h1>
<p>Bring your ferret to our summer fair. Sign up below: it takes a minute.</p>
{snippet}
</main>
</body>
</html>
"""


class _Site(BaseHTTPRequestHandler):
    page = ""

    def do_GET(self) -> None:
        body = self.page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet test output


def fits(page: Page, *, seconds: float = 5) -> bool:
    """Whether the frame comes to be as tall as its content (within a pixel or two)."""
    frame = page.locator("iframe.partyline-signup")
    content = page.frame_locator("iframe.partyline-signup").locator("html")
    for _ in range(int(seconds * 10)):
        if abs(frame.bounding_box()["height"] - content.bounding_box()["height"]) <= 2:
            return True
        page.wait_for_timeout(100)
    return False


@pytest.fixture
def other_sites() -> Iterator[list[tuple[str, type[_Site]]]]:
    """Two sites on other origins than Partyline's (127.0.0.1, two ports): (origin, handler);
    a test sets each handler's `page`."""
    servers = []
    for _ in range(2):
        handler = type("Site", (_Site,), {})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, handler))
    yield [(f"http://127.0.0.1:{server.server_address[1]}", handler) for server, handler in servers]
    for server, _handler in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cookieless_browser(browser: Browser) -> Iterator[Browser]:
    """Chromium as browsers are going: third-party cookies blocked."""
    launched = browser.browser_type.launch(
        executable_path=chromium_path(),
        args=[*CHROMIUM_ARGS, "--test-third-party-cookie-phaseout"],
    )
    yield launched
    launched.close()


def test_a_guest_signs_up_in_the_form_on_the_organizers_site_without_cookies(
    browser, cookieless_browser, site, settings, other_sites, audit: Audit
):
    settings.SITE_URL = site
    (allowed, allowed_site), (refused, refused_site) = other_sites
    assert urlsplit(site).hostname == "localhost"  # so 127.0.0.1 is another site

    organizer = page_audit.new_context(browser)
    page = audit.watch(organizer.new_page())
    pages.sign_up(page, site, email="fen@example.com", organization="Acme Pets", audit=audit)
    pages.open_consent(page, site)
    pages.allow(page)
    party_url = pages.create_party(page, site, name="Ferret Fair")

    # The party page says to allow the site first, and links to where that is done.
    embed_section = page.locator("#embed")
    expect(embed_section).to_contain_text("First add your site")
    embed_section.get_by_role("link", name="the sites allowed to embed your forms").click()
    page.get_by_label(label("Sites that may show your signup forms (optional)")).fill(allowed)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved the organization's settings.")).to_be_visible()
    page.goto(party_url)
    expect(embed_section).to_contain_text(allowed)
    audit.check(page, "party-embed-snippet")
    snippet = page.get_by_label("The form, with a script").input_value()
    assert snippet.startswith(f'<script src="{site}/static/js/embed.js" data-party="')
    allowed_site.page = refused_site.page = SITE_PAGE.replace("{snippet}", snippet)

    # A visitor of the organizer's site, from their newsletter.
    guest = page_audit.new_context(cookieless_browser)
    visit = audit.watch(guest.new_page())
    visit.goto(f"{allowed}/?utm_source=newsletter&utm_campaign=summer-fair")
    frame = visit.frame_locator("iframe.partyline-signup")
    expect(frame.get_by_role("heading", level=1)).to_have_text("Ferret Fair")
    # Sized to the form by the frame's own message: no scrollbar inside it.
    visit.wait_for_function(
        "() => document.querySelector('iframe.partyline-signup').style.height.endsWith('px')"
    )
    assert fits(visit), "the frame is not as tall as the form in it"
    # A message from anyone else (here the embedding page itself) does not size the frame.
    visit.evaluate("() => window.postMessage({partyline: 'height', height: 5}, '*')")
    visit.wait_for_timeout(300)
    assert visit.locator("iframe.partyline-signup").bounding_box()["height"] > 300
    audit.check(visit, "embedded-form")

    # No cookie can live in this frame: the form must do without.
    embedded = next(f for f in visit.frames if f.url.startswith(f"{site}/p/"))
    kept = embedded.evaluate(
        "() => { document.cookie = 'probe=1; SameSite=None; Secure'; return document.cookie; }"
    )
    assert kept == ""

    frame.get_by_label(label("First name")).fill("Gus")
    frame.get_by_label(label("Email")).fill("gus@example.com")
    frame.get_by_role("button", name="Sign up").click()
    expect(frame.get_by_role("heading", level=1)).to_have_text("Thank you, you're signed up!")
    assert fits(visit), "the frame did not follow the thank-you's height"
    assert guest.cookies() == []
    attendee = Attendee.objects.get(email="gus@example.com")
    assert attendee.signup_source == SignupSource.EMBEDDED
    assert (attendee.utm_source, attendee.utm_campaign) == ("newsletter", "summer-fair")
    assert attendee.referrer_host == "127.0.0.1"

    # Their own page needs the whole window: it opens in a tab of its own.
    link = frame.get_by_role("link", name="your registration's page")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener")
    with guest.expect_page() as opened:
        link.click()
    own_page = audit.watch(opened.value)
    expect(own_page.get_by_text("You're registered.")).to_be_visible()
    assert own_page.url.startswith(f"{site}/a/")

    # The same snippet on a site not allowed: the browser refuses to show the form there.
    stranger = page_audit.new_context(cookieless_browser).new_page()
    refusals: list[str] = []
    stranger.on("console", lambda message: refusals.append(message.text))
    stranger.goto(refused)
    expect(stranger.locator("iframe.partyline-signup")).to_be_attached()
    for _ in range(50):  # Chromium says why in the embedding page's console
        if any("frame-ancestors" in text for text in refusals):
            break
        stranger.wait_for_timeout(100)
    assert any("frame-ancestors" in text and allowed in text for text in refusals), refusals
    framed = [f for f in stranger.frames if f is not stranger.main_frame]
    assert framed
    assert all(f.locator("input[name=email]").count() == 0 for f in framed)
    assert Attendee.objects.count() == 1

    # The embedded form on its own, at both widths with axe.
    alone = audit.watch(guest.new_page())
    alone.goto(f"{site}{urlsplit(embedded.url).path}")
    audit.check(alone, "embedded-form-alone")

    audit.assert_clean()
