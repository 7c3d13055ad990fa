"""Who may use the sandbox's pages: anyone in DEBUG, staff only otherwise.

The pages show attendees' emails and pet data and can break, expire or uninstall the app, so
a sandbox asked for outside DEBUG (KLAVIYO_SANDBOX=true) sends everyone else to the admin's
login. The consent page and the API stay open: the product and its organizers use them, and
they check what Klaviyo's check (PKCE and the client secret, tokens).
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, reverse

from klaviyo_sandbox import testing
from klaviyo_sandbox import urls as sandbox_urls
from klaviyo_sandbox.models import Fault, Installation
from tests.support.sandbox_requests import SANDBOX, api, authorize_params, pkce_pair

# What Klaviyo itself exposes: the OAuth endpoints and the REST API.
KLAVIYO_FACING = {"authorize", "token", "revoke"}
URL_ARGUMENTS = {"account_id": testing.ACME, "list_id": "AcmNws", "pk": 1}


def _operator_pages() -> list[str]:
    """Every named sandbox URL that is not Klaviyo-facing: a new page is covered unasked."""
    return [
        pattern.name
        for pattern in sandbox_urls.urlpatterns
        if isinstance(pattern, URLPattern)
        and pattern.name
        and pattern.name not in KLAVIYO_FACING
        and not pattern.name.startswith("api_")
    ]


OPERATOR_PAGES = _operator_pages()


def _url(name: str) -> str:
    pattern = next(p for p in sandbox_urls.urlpatterns if getattr(p, "name", None) == name)
    kwargs = {key: URL_ARGUMENTS[key] for key in pattern.pattern.converters}
    return reverse(f"klaviyo_sandbox:{name}", kwargs=kwargs)


def _sent_to_admin_login(response, url: str) -> bool:
    return response.status_code == 302 and response["Location"] == (
        f"{reverse('admin:login')}?next={url}"
    )


def test_the_operator_pages_include_every_page_and_action_the_ui_offers():
    assert set(OPERATOR_PAGES) >= {
        "root",
        "account",
        "list",
        "membership_confirm",
        "suppression_add",
        "suppression_remove",
        "installation_uninstall",
        "installation_expire",
        "fault_start",
        "fault_clear",
        "calls",
    }


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", OPERATOR_PAGES)
def test_an_anonymous_visitor_is_sent_to_the_admin_login(client, name, method):
    url = _url(name)

    response = getattr(client, method)(url)

    assert _sent_to_admin_login(response, url), (response.status_code, response.get("Location"))


@pytest.mark.parametrize("name", OPERATOR_PAGES)
def test_a_product_user_who_is_not_staff_is_sent_to_the_admin_login(client, make_user, name):
    client.force_login(make_user())
    url = _url(name)

    assert _sent_to_admin_login(client.get(url), url)


def test_an_anonymous_visitor_cannot_start_a_fault(client):
    client.post(reverse("klaviyo_sandbox:fault_start"), {"kind": "outage", "seconds": 60})

    assert not Fault.objects.using("sandbox").exists()


def test_an_anonymous_visitor_cannot_uninstall_the_app(client, app):
    installation = Installation.objects.using("sandbox").get()

    client.post(reverse("klaviyo_sandbox:installation_uninstall", args=[installation.pk]))

    installation.refresh_from_db()
    assert installation.uninstalled_at is None


@pytest.mark.parametrize("path", ["/", f"/accounts/{testing.ACME}/", "/lists/AcmNws/", "/calls/"])
def test_staff_see_the_sandbox_pages(client, make_user, path):
    client.force_login(make_user(is_staff=True))

    response = client.get(f"{SANDBOX}{path}")

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/", "/calls/"])
def test_in_debug_the_sandbox_pages_stay_open(client, settings, path):
    settings.DEBUG = True

    assert client.get(f"{SANDBOX}{path}").status_code == 200


def test_the_consent_page_needs_no_staff_login(client, make_user):
    _verifier, challenge = pkce_pair()
    client.force_login(make_user())  # an organizer on their way through connect

    response = client.get(f"{SANDBOX}/oauth/authorize", authorize_params(challenge))

    assert response.status_code == 200
    assert "Acme Pets" in response.content.decode()


def test_the_api_needs_no_staff_login(client, app):
    response = api(client, "GET", "accounts", app)

    assert response.status_code == 200


def test_the_sandbox_in_its_own_process_asks_for_a_staff_login_on_its_own(
    client, settings, make_user
):
    settings.ROOT_URLCONF = "klaviyo_sandbox.server_urls"

    anonymous = client.get("/calls/")
    login_page = client.get("/admin/login/")
    client.force_login(make_user(is_staff=True))
    staff = client.get("/calls/")

    assert anonymous.status_code == 302
    assert anonymous["Location"] == "/admin/login/?next=/calls/"
    assert login_page.status_code == 200
    assert staff.status_code == 200


def test_the_sandbox_in_its_own_process_serves_none_of_the_products_admin(
    client, settings, make_user
):
    settings.ROOT_URLCONF = "klaviyo_sandbox.server_urls"
    client.force_login(make_user(is_staff=True, is_superuser=True))

    assert client.get("/admin/accounts/user/").status_code == 404
