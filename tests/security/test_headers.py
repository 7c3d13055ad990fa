"""Response headers and cookies: CSP without inline script or style, Permissions-Policy,
framing, referrer, HSTS on https, the https redirect (the health check exempt)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])

LOGIN = "/accounts/login/"
# A product page, the health check, and the sandbox's consent page (an error page without
# parameters): every response carries the headers, not just the product's templates.
PAGES = [LOGIN, "/healthz", "/sandbox/klaviyo/oauth/authorize"]


def csp_directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.mark.parametrize("path", PAGES)
def test_content_security_policy_allows_only_our_own_scripts_and_styles(client, path):
    directives = csp_directives(client.get(path))

    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_content_security_policy_names_nothing_unsafe(client):
    policy = client.get(LOGIN)["Content-Security-Policy"]

    assert "unsafe-" not in policy
    assert "data:" not in policy
    assert "*" not in policy


def test_forms_may_redirect_to_the_consent_page_and_back_to_the_callback(client):
    """Connect answers its form with a redirect to the consent page, and the sandbox's consent
    page answers Allow with one to the callback: form-action must allow both."""
    form_action = csp_directives(client.get(LOGIN))["form-action"]

    authorize = urlsplit(settings.KLAVIYO_AUTHORIZE_URL)
    assert form_action[0] == "'self'"
    assert f"{authorize.scheme}://{authorize.netloc}" in form_action
    for uri in settings.SANDBOX_REDIRECT_URIS:
        callback = urlsplit(uri)
        assert f"{callback.scheme}://{callback.netloc}" in form_action


@pytest.mark.parametrize("path", PAGES)
def test_permissions_policy_turns_off_features_the_product_never_uses(client, path):
    policy = client.get(path)["Permissions-Policy"]
    features = dict(item.split("=", 1) for item in policy.split(", "))

    for feature in ["camera", "microphone", "geolocation", "payment", "usb"]:
        assert features[feature] == "()"
    assert features["clipboard-write"] == "(self)"  # the Copy link button


@pytest.mark.parametrize("path", PAGES)
def test_framing_referrer_and_sniffing_are_locked_down(client, path):
    response = client.get(path)

    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_https_responses_carry_hsts_for_a_year_with_subdomains_and_no_preload(client):
    response = client.get(LOGIN, secure=True)

    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_plain_http_responses_carry_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get(LOGIN)


def test_plain_http_is_redirected_to_https(settings):
    settings.SECURE_SSL_REDIRECT = True

    response = Client().get(LOGIN)

    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{LOGIN}"


def test_the_health_check_answers_plain_http_for_load_balancers(settings):
    settings.SECURE_SSL_REDIRECT = True

    response = Client().get("/healthz")

    assert response.status_code == 200


def test_https_behind_the_proxy_is_recognised_from_its_header(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    response = Client().get(LOGIN, headers={"X-Forwarded-Proto": "https"})

    assert response.status_code == 200
    assert "Strict-Transport-Security" in response


def test_session_and_csrf_cookies_are_secure_httponly_and_lax(client, make_user):
    user = make_user()

    page = client.get(LOGIN)
    logged_in = client.post(
        LOGIN, {"username": user.email, "password": "correct horse battery staple"}
    )

    assert logged_in.status_code == 302, logged_in.content
    for cookie in [page.cookies[settings.CSRF_COOKIE_NAME], logged_in.cookies["sessionid"]]:
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"


def test_pages_other_than_the_embedded_form_refuse_framing_even_with_sites_allowed(
    client, login, owner, make_party, make_attendee
):
    """Allowing a site to embed the signup form allows it that form only: the public page,
    its thank-you, an attendee's own page and every organizer page still refuse any frame."""
    owner.organization.embed_origins = ["https://www.acme-pets.example"]
    owner.organization.save()
    party = make_party(owner.organization)
    attendee = make_attendee(party)
    organizer = login(owner)
    pages = [
        client.get(reverse("parties:signup", args=[party.slug])),
        client.get(reverse("parties:signup_thanks", args=[party.slug])),
        client.get(reverse("parties:attendee_manage", args=[attendee.manage_token])),
        organizer.get(reverse("parties:party_detail", args=[party.pk])),
        organizer.get(reverse("accounts:organization_settings")),
    ]

    for page in pages:
        assert page.status_code == 200, page.request["PATH_INFO"]
        assert page["X-Frame-Options"] == "DENY"
        assert csp_directives(page)["frame-ancestors"] == ["'none'"]
        assert "acme-pets" not in page["Content-Security-Policy"]
