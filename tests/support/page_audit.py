"""What every browser journey does on each page it visits.

`Audit.check(page, name)` runs axe-core on the page, screenshots it at desktop (1280 px) and
phone (375 px) width into the test's tmp dir, and at 375 px checks that the page does not
scroll sideways. Findings are collected, not raised at once, so one run reports every page
of a journey; the journey ends with `audit.assert_clean()`.

axe-core is served to the page at the page's own origin (a Playwright route, never the
server), so the site's Content-Security-Policy stays on while the tests run: a page whose
own script the policy blocks is a finding too.

With `SCREENSHOTS_DIR=docs/screenshots` the README's screenshots are written there as well.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page

VENDOR = Path(__file__).resolve().parents[1] / "browser" / "vendor"
AXE = VENDOR / "axe.min.js"
# Fulfilled by the test's route, at whatever origin the page is on.
AXE_PATH = "/__browser-tests__/axe.min.js"

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
BLOCKING_IMPACTS = ("serious", "critical")
TIMEOUT_MS = 10_000

# The README's screenshots: (page name given to `Audit.check`, width) -> file name.
README_SHOTS = {
    ("integrations-connected", "desktop"): "integrations.png",
    ("integrations-connected", "phone"): "integrations-phone.png",
    ("party-mid-sync", "desktop"): "party-mid-sync.png",
    ("party-mid-sync", "phone"): "party-mid-sync-phone.png",
    ("public-signup", "desktop"): "public-signup.png",
    ("public-signup", "phone"): "public-signup-phone.png",
    ("consent", "desktop"): "consent.png",
    ("embedded-form", "desktop"): "embedded-form.png",
    ("door-checked-in", "phone"): "door-phone.png",
}

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.map((node) => node.target.join(" ")),
  }));
}"""

# The page's width at 375 px and, when it is wider, the outermost elements that stick out
# past the right edge without a scrolling box around them (an absolutely positioned element
# escapes a scroller that is not its containing block, so it counts whatever its ancestors).
SIDEWAYS = """() => {
  const edge = window.innerWidth + 1;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + [...el.classList].map((c) => "." + c).join("");
  const path = (el) => {
    const parts = [];
    for (let node = el; node && node !== document.body && parts.length < 4;
         node = node.parentElement) parts.unshift(name(node));
    return parts.join(" > ");
  };
  const scrolled = (el) => {
    if (["absolute", "fixed"].includes(getComputedStyle(el).position)) return false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  const out = [...document.body.querySelectorAll("*")].filter(
    (el) => el.getBoundingClientRect().right > edge && !scrolled(el));
  const outermost = out.filter((el) => !out.includes(el.parentElement));
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    culprits: [...new Set(outermost.map(path))].slice(0, 5),
  };
}"""


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    """A fresh browser profile (its own cookies) with axe-core reachable and downloads kept."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True, **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.route(
        f"**{AXE_PATH}",
        lambda route: route.fulfill(path=AXE, content_type="application/javascript"),
    )
    return context


@dataclass
class Audit:
    """Accessibility, layout and CSP findings of one journey (and any problem the journey
    notes on its way), and its screenshots."""

    shots: Path
    readme_shots: Path | None = None
    findings: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    _watched: set[int] = field(default_factory=set)

    def watch(self, page: Page) -> Page:
        """Record the Content-Security-Policy violations the page reports in its console."""
        if id(page) not in self._watched:
            self._watched.add(id(page))
            page.on("console", lambda message: self._console(page, message))
        return page

    def _console(self, page: Page, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.findings.append(f"CSP violation on {page.url}: {message.text}")

    def problem(self, message: str) -> None:
        """A journey's own finding, reported with the others at the end."""
        self.findings.append(message)

    def check(self, page: Page, name: str) -> None:
        """axe-core, screenshots at both widths and the sideways-scroll check, on this page."""
        self.watch(page)
        page.wait_for_load_state("load")
        number = len(self.seen) + 1
        self.seen.append(name)
        where = f"{name} ({_path(page.url)})"

        page.set_viewport_size(DESKTOP)
        self.axe(page, where)
        self._shoot(page, number, name, "desktop")

        page.set_viewport_size(PHONE)
        width = page.evaluate(SIDEWAYS)
        if width["scrollWidth"] > width["innerWidth"]:
            self.findings.append(
                f"scrolls sideways at {PHONE['width']} px: {where}: scrollWidth "
                f"{width['scrollWidth']} > {width['innerWidth']}; sticking out: {width['culprits']}"
            )
        self._shoot(page, number, name, "phone")
        page.set_viewport_size(DESKTOP)

    def axe(self, page: Page, where: str) -> None:
        """axe-core on the page at its present width; serious and critical violations are
        findings."""
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.add_script_tag(url=AXE_PATH)
        for violation in page.evaluate(AXE_RUN):
            if violation["impact"] in BLOCKING_IMPACTS:
                self.findings.append(
                    f"axe {violation['impact']} {violation['id']} on {where}: "
                    f"{violation['help']}; targets: {violation['targets']}"
                )

    def _shoot(self, page: Page, number: int, name: str, width: str) -> None:
        path = self.shots / f"{number:02d}-{name}-{width}.png"
        page.screenshot(path=path, full_page=True)
        readme_name = README_SHOTS.get((name, width))
        if readme_name and self.readme_shots is not None:
            self.readme_shots.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self.readme_shots / readme_name)

    def report(self) -> str:
        """Every finding so far, also written to `audit.json` beside the screenshots."""
        report = {"pages": self.seen, "findings": self.findings, "screenshots": str(self.shots)}
        (self.shots / "audit.json").write_text(json.dumps(report, indent=2))
        return "\n".join(
            [f"{len(self.findings)} finding(s) (screenshots in {self.shots}):", *self.findings]
        )

    def assert_clean(self) -> None:
        assert not self.findings, self.report()


def readme_shots_dir() -> Path | None:
    value = os.environ.get("SCREENSHOTS_DIR", "")
    return Path(value).resolve() if value else None


def _path(url: str) -> str:
    """The URL's path, without the origin (a random port) or a long query."""
    path, _, query = re.sub(r"^https?://[^/]+", "", url).partition("?")
    return f"{path}?{query}" if 0 < len(query) <= 40 else f"{path}?..." if query else path
