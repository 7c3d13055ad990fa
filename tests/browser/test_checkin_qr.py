"""The check-in QR code in a real browser: on a registered attendee's own page at 375 px it
fits the phone and passes axe at both widths, and its pixels, read with the door scanner's
decoder (static/js/door-scan.js over the vendored jsQR), give back the attendee's check-in
code: what the door's check-in takes. The scanner itself, given Chromium's fake camera filming
a code, reports it once while it stays in view and stops the camera; where the camera is off
(the site's Permissions-Policy everywhere but the door) it rejects with words to show."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from parties.models import Attendee
from tests.support import page_audit
from tests.support.chromium import CHROMIUM_ARGS, chromium_path
from tests.support.fake_camera import qr_video
from tests.support.page_audit import PHONE, Audit
from tests.support.signups import signup

JSQR = "/static/js/vendor/jsqr/jsQR.js"
DOOR_SCAN = "/static/js/door-scan.js"
# A page of the test's own at the site's origin, with the site's Content-Security-Policy and
# the camera allowed, as the door page allows it (every other page turns it off).
SCAN_PAGE = "/__browser-tests__/door-scan.html"
SCAN_HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Scanner</title>
<script src="{JSQR}"></script><script src="{DOOR_SCAN}"></script></head>
<body><main><video id="camera"></video></main></body></html>"""

# An image (the element's screenshot, as PNG) into ImageData, then the scanner's decoder.
DECODE_PNG = """async (png) => {
  const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], {type: "image/png"}));
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  return PartylineDoorScan.decodeImageData(
    context.getImageData(0, 0, canvas.width, canvas.height));
}"""

DECODE_BLANK = """() => {
  const blank = new ImageData(200, 200);
  blank.data.fill(255);
  return PartylineDoorScan.decodeImageData(blank);
}"""

# Scan until a code is reported, keep the camera on 2 s more (16 frames of the same code), then
# stop: the codes reported and whether the camera really stopped.
SCAN = """async () => {
  const video = document.getElementById("camera");
  const codes = [];
  const stop = await PartylineDoorScan.start(video, (text) => codes.push(text));
  const tracks = video.srcObject.getTracks();
  const until = Date.now() + 10000;
  while (!codes.length && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 2000));
  stop();
  return {
    codes,
    stopped: tracks.every((track) => track.readyState === "ended"),
    detached: video.srcObject === null,
  };
}"""

# The browser's own detector, as Chrome on Android and macOS has it (Linux's has none).
NATIVE_DETECTOR = """window.BarcodeDetector = class {
  static async getSupportedFormats() { return FORMATS; }
  constructor(options) { window.askedFormats = options.formats; }
  async detect(video) { return video.videoWidth ? [{rawValue: "read-by-the-browser"}] : []; }
};"""


def native_detector(formats: list[str]) -> str:
    return NATIVE_DETECTOR.replace("FORMATS", json.dumps(formats))


START_FAILURE = """async () => {
  try {
    await PartylineDoorScan.start(document.createElement("video"), () => {});
    return null;
  } catch (error) {
    return {name: error.name, reason: error.reason, message: error.message};
  }
}"""


@pytest.fixture
def site(live_server) -> str:
    """The live server (the pages here need neither Klaviyo nor a worker)."""
    return live_server.url


@pytest.fixture
def attendee(owner, make_party) -> Attendee:
    party = make_party(owner.organization, name="Ferret Fair")
    return signup(party, "amy@example.com", first_name="Amy")


def manage_url(site: str, attendee: Attendee) -> str:
    return site + reverse("parties:attendee_manage", args=[attendee.manage_token])


def load_scanner(page: Page) -> None:
    page.add_script_tag(url=JSQR)
    page.add_script_tag(url=DOOR_SCAN)


def test_the_qr_code_on_the_attendee_page_decodes_to_a_code_the_door_accepts(
    browser, site, audit: Audit, attendee, login, owner
):
    page = audit.watch(page_audit.new_context(browser).new_page())
    page.goto(manage_url(site, attendee))
    code = page.get_by_role("img", name="QR code for checking in")
    expect(code).to_be_visible()
    expect(page.get_by_text("Show this at the door to check in.")).to_be_visible()
    expect(page.locator("code.checkin-code")).to_have_text(attendee.checkin_code)
    audit.check(page, "attendee-page-qr")  # axe at 1280 and 375 px, nothing sideways

    page.set_viewport_size(PHONE)
    box = code.bounding_box()
    assert box is not None
    assert 200 <= box["width"] <= 240, box  # big enough for a camera, within the phone
    assert box["width"] == pytest.approx(box["height"], abs=1)
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"]
    png = base64.b64encode(code.screenshot()).decode()

    load_scanner(page)  # from the site's own static files: the policy stays on
    assert page.evaluate("() => PartylineDoorScan.supported()")
    assert page.evaluate(DECODE_BLANK) is None
    decoded = page.evaluate(DECODE_PNG, png)
    assert decoded == attendee.checkin_code
    assert attendee.checkin_code not in attendee.manage_token
    # What the camera read is what the door's check-in endpoint takes.
    answer = login(owner).post(
        reverse("door:check_in", args=[attendee.party_id]),
        {"client_id": str(uuid4()), "code": decoded},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["outcome"] == "checked_in"
    audit.assert_clean()


@pytest.fixture
def camera_browser(browser: Browser, tmp_path: Path, attendee) -> Iterator[Browser]:
    """A second Chromium whose only camera films the attendee's QR code, and which says yes
    when a page asks for it."""
    video = qr_video(tmp_path / "qr.y4m", attendee.checkin_code)
    filming = browser.browser_type.launch(
        executable_path=chromium_path(),
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    yield filming
    filming.close()


def scan_page(browser: Browser, site: str, audit: Audit, *, init_script: str = "") -> Page:
    context = page_audit.new_context(browser)
    policy = context.request.get(f"{site}/").headers["content-security-policy"]
    context.route(
        f"**{SCAN_PAGE}",
        lambda route: route.fulfill(
            body=SCAN_HTML,
            content_type="text/html",
            headers={"Content-Security-Policy": policy, "Permissions-Policy": "camera=(self)"},
        ),
    )
    page = audit.watch(context.new_page())
    if init_script:
        page.add_init_script(init_script)
    page.goto(f"{site}{SCAN_PAGE}")
    return page


def test_the_scanner_reports_a_code_in_view_once_and_stops_the_camera(
    camera_browser, site, audit: Audit, attendee
):
    page = scan_page(camera_browser, site, audit)
    assert page.evaluate("() => PartylineDoorScan.supported()")

    result = page.evaluate(SCAN)

    assert result["codes"] == [attendee.checkin_code]  # 16 more frames of it: not repeated
    assert result["stopped"]
    assert result["detached"]
    audit.assert_clean()


def test_the_browsers_own_detector_is_used_where_it_reads_qr_codes(
    camera_browser, site, audit: Audit
):
    detector = native_detector(["ean_13", "qr_code"])
    page = scan_page(camera_browser, site, audit, init_script=detector)

    result = page.evaluate(SCAN)

    assert result["codes"] == ["read-by-the-browser"]
    assert page.evaluate("() => window.askedFormats") == ["qr_code"]
    assert result["stopped"]
    audit.assert_clean()


def test_a_browser_detector_that_cannot_read_qr_codes_leaves_them_to_jsqr(
    camera_browser, site, audit: Audit, attendee
):
    page = scan_page(camera_browser, site, audit, init_script=native_detector(["ean_13"]))

    result = page.evaluate(SCAN)

    assert result["codes"] == [attendee.checkin_code]
    audit.assert_clean()


def test_where_the_camera_is_turned_off_the_scanner_says_so(camera_browser, site, attendee):
    page = page_audit.new_context(camera_browser).new_page()
    page.goto(manage_url(site, attendee))  # Permissions-Policy: camera=()
    load_scanner(page)

    failure = page.evaluate(START_FAILURE)

    assert failure is not None
    assert failure["name"] == "DoorScanError"
    assert failure["reason"] == "denied"
    assert failure["message"].startswith("The camera is blocked.")
