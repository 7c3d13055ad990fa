import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from tests.support.accounts import PASSWORD

LOGIN_URL = "/accounts/login/"
LOGOUT_URL = "/accounts/logout/"


@pytest.mark.django_db
def test_login_with_email_in_any_case(client, owner):
    response = client.post(LOGIN_URL, {"username": owner.user.email.upper(), "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert int(client.session[SESSION_KEY]) == owner.user.pk


@pytest.mark.django_db
def test_login_with_wrong_password_says_so(client, owner):
    response = client.post(LOGIN_URL, {"username": owner.user.email, "password": "nope"})

    assert response.status_code == 200
    assert "That email and password do not match an account" in response.text
    assert SESSION_KEY not in client.session


@pytest.mark.django_db
def test_login_follows_safe_next_only(client, owner):
    response = client.post(
        f"{LOGIN_URL}?next=https://evil.example/steal",
        {"username": owner.user.email, "password": PASSWORD, "next": "https://evil.example/"},
    )

    assert response.status_code == 302
    assert response.url == reverse("home")


@pytest.mark.django_db
def test_logout_is_post_only(client, login, owner):
    client = login(owner)

    assert client.get(LOGOUT_URL).status_code == 405
    response = client.post(LOGOUT_URL)

    assert response.status_code == 302
    assert response.url == reverse("accounts:login")
    assert SESSION_KEY not in client.session
    assert "You are logged out." in client.get(response.url).text


@pytest.mark.django_db
def test_tenant_page_redirects_logged_out_visitor_to_login(client):
    response = client.get(reverse("accounts:member_list"))

    assert response.status_code == 302
    assert response.url.startswith(f"{LOGIN_URL}?next=")


@pytest.mark.django_db
def test_user_without_organization_is_asked_to_create_one(login, make_user):
    client = login(make_user())

    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response.url == reverse("accounts:organization_create")
