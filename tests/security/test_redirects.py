"""Every `next` or return URL stays on Partyline: hostile values fall back to a page of ours."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import Role
from klaviyo_sandbox import testing
from tests.support.accounts import PASSWORD, signup_data
from tests.support.connect_flow import consent, path_of, start_connect

pytestmark = pytest.mark.django_db

HOSTILE = [
    "//evil.example",
    "https://evil.example",
    "https://evil.example/accounts/",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "http:evil.example",
    " //evil.example",
]
HOME = reverse("home")
STRONG_PASSWORD = "purple-otter-marmalade-42"


def assert_stays_home(response) -> None:
    assert response.status_code == 302
    assert response.url == HOME


@pytest.mark.parametrize("hostile", HOSTILE)
def test_login_never_follows_a_hostile_next(client, owner, hostile):
    response = client.post(
        f"{reverse('accounts:login')}?{urlencode({'next': hostile})}",
        {"username": owner.user.email, "password": PASSWORD, "next": hostile},
    )

    assert_stays_home(response)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_logged_in_visit_to_login_never_follows_a_hostile_next(login, owner, hostile):
    response = login(owner).get(reverse("accounts:login"), {"next": hostile})

    assert_stays_home(response)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_the_login_page_never_passes_a_hostile_next_on(client, hostile):
    page = client.get(reverse("accounts:login"), {"next": hostile})

    assert "evil.example" not in page.text
    assert "javascript:" not in page.text


def test_login_follows_a_local_next(client, owner):
    response = client.post(
        reverse("accounts:login"),
        {"username": owner.user.email, "password": PASSWORD, "next": "/parties/"},
    )

    assert response.url == "/parties/"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_signup_never_follows_a_hostile_next(client, hostile):
    page = client.get(reverse("accounts:signup"), {"next": hostile})
    response = client.post(
        f"{reverse('accounts:signup')}?{urlencode({'next': hostile})}",
        {**signup_data(), "next": hostile},
    )

    assert "evil.example" not in page.text
    assert_stays_home(response)


def test_signup_carries_a_local_next_from_the_login_page(client):
    """Sent to log in on the way somewhere (say, Klaviyo's install link), a newcomer who signs
    up instead still lands there."""
    install = reverse("integrations:klaviyo_install")
    login_page = client.get(reverse("accounts:login"), {"next": install})
    signup_link = f"{reverse('accounts:signup')}?next={install}"
    assert signup_link in login_page.text

    page = client.get(reverse("accounts:signup"), {"next": install})
    response = client.post(reverse("accounts:signup"), {**signup_data(), "next": install})

    assert f'name="next" value="{install}"' in page.text
    assert response.status_code == 302
    assert response.url == install


@pytest.mark.parametrize("hostile", HOSTILE)
def test_invite_acceptance_never_follows_a_hostile_next(login, make_member, owner, hostile):
    _invite, token = services.invite_create(
        organization=owner.organization,
        email="guest@example.com",
        role=Role.MEMBER,
        invited_by=owner,
    )
    guest = make_member().user
    guest.email = "guest@example.com"
    guest.save()
    url = reverse("accounts:invite_accept", args=[token])

    response = login(guest).post(f"{url}?{urlencode({'next': hostile})}", {"next": hostile})

    assert_stays_home(response)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_signup_through_an_invite_never_follows_a_hostile_next(client, owner, hostile):
    _invite, token = services.invite_create(
        organization=owner.organization,
        email="guest@example.com",
        role=Role.MEMBER,
        invited_by=owner,
    )

    response = client.post(
        f"{reverse('accounts:signup')}?{urlencode({'invite': token, 'next': hostile})}",
        {**signup_data(email="guest@example.com"), "next": hostile},
    )

    assert_stays_home(response)


@pytest.fixture
def two_organizations(login, make_member, owner):
    other = make_member(role=Role.MEMBER, user=owner.user)
    return login(owner), other.organization


@pytest.mark.parametrize("hostile", HOSTILE)
def test_switching_organization_never_follows_a_hostile_next(two_organizations, hostile):
    client, other = two_organizations

    response = client.post(
        reverse("accounts:organization_switch"), {"organization": other.pk, "next": hostile}
    )

    assert_stays_home(response)


def test_switching_organization_returns_to_the_section_you_were_in(two_organizations):
    client, other = two_organizations
    parties = reverse("parties:party_list")

    page = client.get(parties)
    response = client.post(
        reverse("accounts:organization_switch"), {"organization": other.pk, "next": parties}
    )

    assert f'name="next" value="{parties}"' in page.text
    assert response.url == parties


def test_the_switcher_on_an_object_page_sends_no_next(two_organizations, owner, make_connection):
    """That object would be a 404 in the other organization: the switch goes home instead."""
    client, _other = two_organizations
    connection = make_connection(owner.organization)

    page = client.get(reverse("integrations:connection_detail", args=[connection.pk]))

    assert page.status_code == 200
    assert "org-switcher" in page.text
    assert 'name="next"' not in page.text


def test_switching_refuses_plain_http_next_on_an_https_request(two_organizations):
    client, other = two_organizations

    response = client.post(
        reverse("accounts:organization_switch"),
        {"organization": other.pk, "next": "http://testserver/parties/"},
        secure=True,
    )

    assert_stays_home(response)


@pytest.mark.django_db(databases=["default", "sandbox"])
@pytest.mark.parametrize("hostile", HOSTILE)
def test_the_klaviyo_callback_ignores_a_next_parameter(login, owner, sandbox, hostile):
    client = login(owner)
    callback = consent(client, start_connect(client), account=testing.ACME)

    response = client.get(f"{path_of(callback)}&{urlencode({'next': hostile})}")

    assert response.status_code == 302
    assert response.url == "/settings/integrations/?connected=klaviyo"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_failed_klaviyo_callback_ignores_a_next_parameter(login, owner, hostile):
    response = login(owner).get(
        reverse("integrations:klaviyo_callback"), {"state": "unknown", "code": "x", "next": hostile}
    )

    assert response.status_code == 302
    assert response.url.startswith("/settings/integrations/?error=")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_the_install_link_sends_visitors_to_log_in_and_come_back_only_here(hostile):
    install = reverse("integrations:klaviyo_install")

    response = Client().get(install, {"next": hostile})

    assert response.status_code == 302
    login_url = urlsplit(response.url)
    assert login_url.path == reverse("accounts:login")
    # Logging in leads back to the install page (a path of ours), whatever it was given.
    assert parse_qs(login_url.query)["next"][0].startswith(f"{install}?")
