"""The 403, 404 and 500 pages: Partyline's own, found by the template loader, with DEBUG off
(as the suite runs), and the 500 page rendered without a request context."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import path, reverse

import config.urls
from accounts.models import Role


def forbidden(request):
    raise PermissionDenied("Only the party's host can do that.")


def boom(request):
    raise RuntimeError("a bug")


# This module is the URLconf of the tests marked `urls(__name__)`: the site's URLs plus two
# views that fail, with the site's error handlers.
urlpatterns = [
    path("test-errors/forbidden/", forbidden),
    path("test-errors/boom/", boom),
    *config.urls.urlpatterns,
]
handler403 = config.urls.handler403
handler404 = config.urls.handler404
handler500 = config.urls.handler500

pytestmark = pytest.mark.django_db


def test_the_error_pages_live_under_templates_and_not_at_the_repository_root():
    for name in ("403.html", "404.html", "500.html"):
        assert (settings.BASE_DIR / "templates" / name).is_file()
        assert not (settings.BASE_DIR / name).exists()


def test_an_unknown_url_is_the_custom_404_page(client):
    assert not settings.DEBUG

    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert "Page not found" in response.text
    assert "belongs to an organization you are not working in" in response.text


def test_a_member_on_a_managers_page_gets_the_custom_403_page(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    response = login(member).get(reverse("accounts:organization_settings"))

    assert response.status_code == 403
    assert "You cannot do that here" in response.text
    assert "Only owners and admins can do this." in response.text


@pytest.mark.urls(__name__)
def test_permission_denied_shows_its_reason_on_the_custom_403_page(client):
    response = client.get("/test-errors/forbidden/")

    assert response.status_code == 403
    assert "You cannot do that here" in response.text
    assert "Only the party&#x27;s host can do that." in response.text


@pytest.mark.urls(__name__)
def test_a_crash_is_the_custom_500_page_and_an_error_in_the_log(caplog):
    client = Client(raise_request_exception=False)

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/test-errors/boom/")

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "Nothing you entered was lost" in response.text
    assert "a bug" not in response.text
    # A real bug stays an error, with its traceback, in the server log.
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.ERROR
    # (the log's secret scrubber turns exc_info into the formatted exc_text)
    assert record.exc_info is not None or "RuntimeError: a bug" in record.exc_text


@pytest.mark.urls(__name__)
def test_the_500_page_needs_no_request_context(client, monkeypatch):
    """It renders even when the context processors (which read the database) would fail."""

    def broken(request):
        raise RuntimeError("context processor down")

    monkeypatch.setattr("accounts.context_processors.organizations", broken)
    client = Client(raise_request_exception=False)

    response = client.get("/test-errors/boom/")

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert 'rel="stylesheet"' in response.text


# --- Public pages under DEBUG (`make run`) -----------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "/p/no-such-party/",  # a view's 404: no party has this link
        "/p/no-such-party/extra/words/",  # no URL pattern at all
        "/p/no-such-party",  # the missing slash is added first, then the same 404
    ],
)
def test_a_mistyped_public_link_shows_the_products_404_even_with_debug_on(address, settings):
    settings.DEBUG = True

    response = Client().get(address, follow=True)

    assert response.status_code == 404
    assert "Page not found" in response.text
    assert "Using the URLconf" not in response.text  # Django's debug page lists them all


def test_organizer_pages_keep_djangos_debug_404_for_developers(settings):
    settings.DEBUG = True

    response = Client().get("/no-such-page/")

    assert response.status_code == 404
    assert "Using the URLconf" in response.text
