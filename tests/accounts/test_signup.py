import pytest
from django.urls import reverse

from accounts.models import Membership, Organization, Role, User
from tests.support.accounts import SIGNUP_URL, STRONG_PASSWORD, signup_data


def assert_nothing_created() -> None:
    assert User.objects.count() == 0
    assert Organization.objects.count() == 0
    assert Membership.objects.count() == 0


@pytest.mark.django_db
def test_signup_page_renders(client):
    response = client.get(SIGNUP_URL)
    assert response.status_code == 200
    for field in ("email", "password1", "password2", "organization_name"):
        assert f'name="{field}"' in response.text


@pytest.mark.django_db
def test_signup_creates_user_and_owned_organization_and_logs_in(client):
    response = client.post(SIGNUP_URL, signup_data())

    assert response.status_code == 302
    assert response.url == reverse("home")
    user = User.objects.get()
    assert user.email == "sarah@example.com"
    assert user.check_password(STRONG_PASSWORD)
    membership = Membership.objects.get()
    assert membership.user == user
    assert membership.organization.name == "Happy Paws"
    assert membership.role == Role.OWNER
    home = client.get(reverse("home"))
    assert home.status_code == 200
    assert "Happy Paws" in home.text


@pytest.mark.django_db
def test_signup_with_taken_email_in_other_case_is_refused(client, make_user):
    make_user(email="sarah@example.com")

    response = client.post(SIGNUP_URL, signup_data(email="SARAH@example.COM"))

    assert response.status_code == 200
    assert "An account with this email already exists" in response.text
    assert User.objects.count() == 1
    assert Organization.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password1": "password", "password2": "password"}, "This password is too common"),
        ({"password1": "12345678901", "password2": "12345678901"}, "entirely numeric"),
        ({"password1": "short", "password2": "short"}, "too short"),
        ({"password2": "something-else-entirely-9"}, "The two passwords do not match"),
        ({"organization_name": ""}, "Enter the organization"),
        ({"organization_name": "   "}, "Enter the organization"),
        ({"organization_name": "x" * 10_240}, "at most 100 characters"),
        ({"email": "not-an-email"}, "Enter a valid email address"),
        ({"email": ""}, "This field is required"),
    ],
)
def test_signup_bad_input_says_what_is_wrong_and_creates_nothing(client, overrides, message):
    response = client.post(SIGNUP_URL, signup_data(**overrides))

    assert response.status_code == 200
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert_nothing_created()


@pytest.mark.django_db
def test_signup_failure_halfway_leaves_no_user(client, monkeypatch):
    """Sign-up is one transaction: if the organization cannot be created, no user remains."""

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("accounts.services.organization_create", broken)
    client.raise_request_exception = False

    response = client.post(SIGNUP_URL, signup_data())

    assert response.status_code == 500
    assert_nothing_created()


@pytest.mark.django_db
def test_signup_requires_csrf_token():
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(SIGNUP_URL, signup_data())

    assert response.status_code == 403
    assert_nothing_created()
