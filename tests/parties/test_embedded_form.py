"""The signup form embedded in an organizer's own site: framed only by the organization's
allowed sites, working without any cookie (a signed form token and the Origin header stand in
for CSRF), with the public page's honeypot and rate limits, and the thank-you in the frame."""

from __future__ import annotations

import re
import time

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from parties import embed
from parties.models import Attendee, Party, Place, SignupSource
from tests.support.signups import FORM

pytestmark = pytest.mark.django_db

OURS = "http://testserver"
TOO_MANY = "Too many signups from your network right now."


@pytest.fixture
def party(make_party, make_org) -> Party:
    organization = make_org("Acme Pets Shop")
    organization.embed_origins = ["https://www.acme-pets.example", "https://blog.acme.example"]
    organization.save()
    return make_party(organization, name="Howl-o-ween")


def embed_url(party: Party) -> str:
    return reverse("parties:signup_embed", args=[party.slug])


def token_of(page) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert found, "the form carries no token"
    return found[1]


def post_embedded(
    client: Client,
    party: Party,
    *,
    token: str | None = None,
    origin: str | None = OURS,
    address: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    **changes: str,
):
    """The embedded form posted from inside its frame: our own Origin, a fresh token."""
    data = {**FORM, "form_token": embed.form_token(party) if token is None else token, **changes}
    sent = dict(headers or {})
    if origin is not None:
        sent["Origin"] = origin
    return client.post(embed_url(party), data, REMOTE_ADDR=address, headers=sent)


def frame_ancestors(response) -> list[str]:
    for directive in response["Content-Security-Policy"].split(";"):
        name, *sources = directive.split()
        if name == "frame-ancestors":
            return sources
    raise AssertionError("no frame-ancestors")


# --- Framing ----------------------------------------------------------------------------------


def test_the_form_may_be_framed_by_the_organizations_sites_and_ourselves(client, party):
    page = client.get(embed_url(party))

    assert page.status_code == 200
    assert frame_ancestors(page) == [
        "'self'",
        "https://www.acme-pets.example",
        "https://blog.acme.example",
    ]
    # X-Frame-Options cannot name sites: the policy alone decides.
    assert "X-Frame-Options" not in page


def test_with_no_site_allowed_only_our_own_pages_may_frame_it(client, make_party):
    page = client.get(embed_url(make_party()))

    assert frame_ancestors(page) == ["'self'"]
    assert "X-Frame-Options" not in page


def test_another_organizations_sites_are_not_this_ones(client, party, make_party, make_org):
    stranger = make_org("Elsewhere")
    stranger.embed_origins = ["https://www.elsewhere.example"]
    stranger.save()

    page = client.get(embed_url(party))

    assert "https://www.elsewhere.example" not in page["Content-Security-Policy"]
    assert frame_ancestors(client.get(embed_url(make_party(stranger)))) == [
        "'self'",
        "https://www.elsewhere.example",
    ]


def test_every_answer_of_the_embedded_form_carries_its_framing(client, party, settings):
    settings.SIGNUP_RATE_PER_IP = "0/m"
    refused = post_embedded(client, party, token="forged")
    too_many = post_embedded(client, party)
    Party.objects.filter(pk=party.pk).update(signups_open=False)
    closed = client.get(embed_url(party))

    for response in (refused, too_many, closed):
        assert "https://www.acme-pets.example" in frame_ancestors(response), response.status_code
        assert "X-Frame-Options" not in response


def test_the_framed_page_uses_only_our_own_static_files(client, party):
    page = client.get(embed_url(party))

    assert '<script src="/static/js/embed-frame.js" defer></script>' in page.text
    assert "https://" not in page.text
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-" not in policy


# --- No cookie --------------------------------------------------------------------------------


def test_the_form_sets_no_cookie_and_carries_no_csrf_token(client, party):
    page = client.get(embed_url(party))

    assert "Set-Cookie" not in page
    assert not page.cookies
    assert "csrfmiddlewaretoken" not in page.text
    assert token_of(page)
    assert page["Cache-Control"].startswith("max-age=0")


def test_a_signup_in_the_frame_works_without_any_cookie_and_sets_none(party):
    # As in a frame on another site: the CSRF check on, no cookie at all, none kept.
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(embed_url(party))
    browser.cookies.clear()

    response = browser.post(
        embed_url(party),
        {**FORM, "form_token": token_of(page)},
        headers={"Origin": OURS, "Sec-Fetch-Site": "same-origin"},
    )

    assert response.status_code == 200
    assert "Set-Cookie" not in response
    assert not response.cookies
    assert "Thank you, you're signed up!" in response.text
    attendee = Attendee.objects.get()
    assert (attendee.email, attendee.party) == ("sarah@example.com", party)
    assert attendee.signup_source == SignupSource.EMBEDDED


def test_the_thank_you_shows_the_place_and_opens_their_page_in_a_new_tab(client, party):
    response = post_embedded(client, party)

    attendee = Attendee.objects.get()
    manage = reverse("parties:attendee_manage", args=[attendee.manage_token])
    assert f'<a href="{manage}" target="_blank" rel="noopener">' in response.text
    assert "(it opens in a new tab)" in response.text
    # In the frame's layout, its script telling the embedding page its height.
    assert 'class="public embedded"' in response.text
    assert "js/embed-frame.js" in response.text


def test_a_full_party_with_a_waitlist_says_the_place_on_it(client, make_party, party):
    full = make_party(party.organization, capacity=1)
    post_embedded(client, full, email="first@example.com")

    page = client.get(embed_url(full))
    response = post_embedded(client, full, email="second@example.com")

    assert "Join the waitlist" in page.text
    assert "You're on the waitlist" in response.text
    assert "number 1" in response.text
    assert Attendee.objects.get(email="second@example.com").place == Place.WAITLISTED


def test_a_double_opt_in_party_asks_to_confirm_by_email_in_the_frame(client, make_party, party):
    double = make_party(party.organization, opt_in_process="double_opt_in")

    response = post_embedded(client, double)

    assert "One more step: confirm your email address." in response.text


def test_an_address_signed_up_before_reveals_nothing_of_its_registration(client, party):
    post_embedded(client, party)

    again = post_embedded(client, party)

    assert again.status_code == 200
    assert "/a/" not in again.text
    assert "your registration is kept" in again.text


def test_a_full_party_without_a_waitlist_says_so_in_the_frame(client, make_party, party):
    full = make_party(party.organization, capacity=1, waitlist_enabled=False)
    post_embedded(client, full, email="first@example.com")

    page = client.get(embed_url(full))
    refused = post_embedded(client, full, email="second@example.com")

    assert page.status_code == 200
    assert "<form" not in page.text
    assert refused.status_code == 409
    assert "js/embed-frame.js" in refused.text
    assert not Attendee.objects.filter(email="second@example.com").exists()


def test_a_closed_party_says_so_in_the_frame(client, party):
    Party.objects.filter(pk=party.pk).update(signups_open=False)

    response = post_embedded(client, party)

    assert "Signups for this party are closed." in response.text
    assert "js/embed-frame.js" in response.text
    assert not Attendee.objects.exists()


# --- The form token ---------------------------------------------------------------------------


def test_a_post_without_a_token_is_refused_with_a_fresh_form(client, party):
    response = post_embedded(client, party, token="", first_name="Zoë")

    assert response.status_code == 403
    assert str(embed.FORM_UNCHECKED) in response.text
    assert 'value="Zoë"' in response.text
    assert form_token_is_good(token_of(response), party)
    assert not Attendee.objects.exists()


def form_token_is_good(token: str, party: Party) -> bool:
    return embed.form_token_problem(token, party) == ""


def test_a_forged_token_is_refused(client, party):
    good = embed.form_token(party)
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")

    response = post_embedded(client, party, token=forged)

    assert response.status_code == 403
    assert str(embed.FORM_UNCHECKED) in response.text
    assert not Attendee.objects.exists()


def test_a_token_signed_for_another_purpose_is_refused(client, party):
    other_salt = signing.TimestampSigner(salt="parties.signup-thanks").sign(party.slug)

    assert post_embedded(client, party, token=other_salt).status_code == 403
    assert not Attendee.objects.exists()


def test_another_partys_token_is_refused(client, party, make_party):
    other = make_party(party.organization)

    response = post_embedded(client, party, token=embed.form_token(other))

    assert response.status_code == 403
    assert not Attendee.objects.exists()


def test_an_expired_token_is_refused_saying_the_form_was_open_long(client, party, monkeypatch):
    issued = time.time() - embed.FORM_TOKEN_MAX_AGE - 60
    monkeypatch.setattr(signing.time, "time", lambda: issued)
    old = embed.form_token(party)
    monkeypatch.undo()

    response = post_embedded(client, party, token=old)

    assert response.status_code == 403
    assert str(embed.FORM_STALE) in response.text
    assert not Attendee.objects.exists()


def test_a_token_within_its_age_is_good(client, party, monkeypatch):
    issued = time.time() - embed.FORM_TOKEN_MAX_AGE + 60
    monkeypatch.setattr(signing.time, "time", lambda: issued)
    recent = embed.form_token(party)
    monkeypatch.undo()

    assert post_embedded(client, party, token=recent).status_code == 200
    assert Attendee.objects.exists()


# --- The Origin of the POST -------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "https://www.acme-pets.example", "http://testserver:8000", "null"],
)
def test_a_post_from_another_origin_is_refused(client, party, origin):
    response = post_embedded(client, party, origin=origin)

    assert response.status_code == 403
    assert str(embed.FOREIGN_ORIGIN) in response.text
    assert not Attendee.objects.exists()


@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site"])
def test_without_origin_a_post_a_browser_says_came_from_elsewhere_is_refused(
    client, party, fetch_site
):
    response = post_embedded(client, party, origin=None, headers={"Sec-Fetch-Site": fetch_site})

    assert response.status_code == 403
    assert not Attendee.objects.exists()


@pytest.mark.parametrize("headers", [{}, {"Sec-Fetch-Site": "same-origin"}])
def test_without_origin_a_post_from_our_own_page_or_no_browser_is_taken(client, party, headers):
    response = post_embedded(client, party, origin=None, headers=headers)

    assert response.status_code == 200
    assert Attendee.objects.exists()


def test_behind_https_our_origin_is_the_https_one(client, party):
    response = client.post(
        embed_url(party),
        {**FORM, "form_token": embed.form_token(party)},
        secure=True,
        headers={"Origin": "https://testserver"},
    )

    assert response.status_code == 200


# --- The honeypot, rate limits, answers -------------------------------------------------------


def test_the_honeypot_gets_the_usual_thanks_and_saves_nothing(client, party):
    response = post_embedded(client, party, website="http://spam.example")

    assert response.status_code == 200
    assert "Thank you" in response.text
    assert not Attendee.objects.exists()


def test_signups_over_the_per_ip_rate_get_429_with_their_input_and_a_fresh_token(
    client, party, settings
):
    settings.SIGNUP_RATE_PER_IP = "1/m"
    post_embedded(client, party, email="one@example.com")

    response = post_embedded(client, party, email="two@example.com", first_name="Zoë")

    assert response.status_code == 429
    assert TOO_MANY in response.text
    assert 0 < int(response["Retry-After"]) <= 60
    assert 'value="Zoë"' in response.text
    assert form_token_is_good(token_of(response), party)
    assert list(Attendee.objects.values_list("email", flat=True)) == ["one@example.com"]


def test_the_public_page_and_the_frame_share_the_per_party_rate(client, party, settings):
    from tests.support.signups import post_signup

    settings.SIGNUP_RATE_PER_PARTY = "2/m"
    post_signup(client, party, address="10.0.0.1", email="page@example.com")
    post_embedded(client, party, address="10.0.0.2", email="frame@example.com")

    crowded = post_embedded(client, party, address="10.0.0.3", email="late@example.com")

    assert crowded.status_code == 429
    assert Attendee.objects.count() == 2


def test_refused_answers_come_back_with_their_messages_and_a_fresh_token(
    client, party, monkeypatch
):
    # Their form was open a while: fixing the answers must not run into its age.
    issued = time.time() - 60 * 60
    monkeypatch.setattr(signing.time, "time", lambda: issued)
    hour_old = embed.form_token(party)
    monkeypatch.undo()

    response = post_embedded(client, party, token=hour_old, email="not-an-address")

    assert response.status_code == 400
    assert "Enter a valid email address" in response.text
    assert "csrfmiddlewaretoken" not in response.text
    token = token_of(response)
    assert token != hour_old
    assert form_token_is_good(token, party)
    fixed = post_embedded(client, party, token=token)
    assert fixed.status_code == 200
    assert Attendee.objects.get().signup_source == SignupSource.EMBEDDED


def test_an_unknown_party_is_a_404(client):
    assert client.get("/p/no-such-party/embed/").status_code == 404


# --- The snippet ------------------------------------------------------------------------------


def test_the_snippets_point_at_the_site_url_and_the_party(party, settings):
    settings.SITE_URL = "https://partyline.example.com"

    snippets = embed.snippets(party)

    assert snippets.script == (
        '<script src="https://partyline.example.com/static/js/embed.js" '
        f'data-party="{party.slug}" async></script>'
    )
    assert snippets.form_url == f"https://partyline.example.com/p/{party.slug}/embed/"
    assert f'<iframe src="{snippets.form_url}" title="Sign up: Howl-o-ween"' in snippets.iframe


def test_embed_js_builds_the_frames_address_as_the_url_is_routed(party):
    """embed.js knows the embedded form's path; the URL configuration must agree."""
    from django.conf import settings

    script = (settings.BASE_DIR / "static" / "js" / "embed.js").read_text()

    assert '"/p/" + encodeURIComponent(' in script
    assert '+ "/embed/"' in script
    assert embed_url(party) == f"/p/{party.slug}/embed/"
    # It listens to its own frame only, and only from our origin.
    assert "event.origin !== origin || event.source !== frame.contentWindow" in script
