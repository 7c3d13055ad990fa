"""Password resets, account signups and invite links are limited per client address (and
resets per target address); over a limit the friendly 429 page says when to retry."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import Role, User
from tests.support.accounts import SIGNUP_URL, signup_data

pytestmark = pytest.mark.django_db

RESET_URL = reverse("accounts:password_reset")


def ask_reset(client: Client, email: str, address: str = "203.0.113.10"):
    return client.post(RESET_URL, {"email": email}, REMOTE_ADDR=address)


def sign_up(number: int, address: str = "203.0.113.10"):
    data = signup_data(email=f"new{number}@example.com", organization_name=f"Shop {number}")
    return Client().post(SIGNUP_URL, data, REMOTE_ADDR=address)


def assert_friendly_429(response, reason: str) -> None:
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert f"There were too many {reason}" in response.text
    assert "Please try again in" in response.text


def test_one_mailbox_gets_at_most_three_reset_emails_an_hour(client, owner):
    statuses = [ask_reset(client, owner.user.email).status_code for _ in range(3)]
    # From another address too: the limit protects the mailbox, wherever the requests come from.
    fourth = ask_reset(Client(), owner.user.email.upper(), address="198.51.100.1")

    assert statuses == [302] * 3
    assert_friendly_429(fourth, "password reset requests")
    assert len(mail.outbox) == 3


def test_one_address_asking_for_many_resets_is_limited(client, make_user, settings):
    settings.PASSWORD_RESET_RATE_PER_IP = "2/h"
    users = [make_user() for _ in range(3)]

    statuses = [ask_reset(client, user.email).status_code for user in users]

    assert statuses == [302, 302, 429]
    assert len(mail.outbox) == 2
    # Another address may still ask, and so may this one once the window has passed.
    assert ask_reset(Client(), users[2].email, address="198.51.100.1").status_code == 302
    cache.clear()
    assert ask_reset(client, users[2].email).status_code == 302


def test_viewing_the_reset_page_is_not_counted(client, settings):
    settings.PASSWORD_RESET_RATE_PER_IP = "1/h"

    for _ in range(3):
        assert client.get(RESET_URL).status_code == 200


def test_account_signups_are_limited_per_address(settings):
    settings.ACCOUNT_SIGNUP_RATE_PER_IP = "2/h"

    statuses = [sign_up(number).status_code for number in range(3)]

    assert statuses == [302, 302, 429]
    assert User.objects.count() == 2
    assert sign_up(4, address="198.51.100.1").status_code == 302
    assert Client().get(SIGNUP_URL, REMOTE_ADDR="203.0.113.10").status_code == 200


def test_the_signup_429_page_is_friendly(settings):
    settings.ACCOUNT_SIGNUP_RATE_PER_IP = "1/h"
    sign_up(1)

    assert_friendly_429(sign_up(2), "sign-up attempts from your network")


def test_invite_links_are_limited_per_address(client, owner, settings):
    settings.INVITE_RATE_PER_IP = "3/h"
    _invite, token = services.invite_create(
        organization=owner.organization,
        email="new@example.com",
        role=Role.MEMBER,
        invited_by=owner,
    )
    accept_url = reverse("accounts:invite_accept", args=[token])

    visits = [
        client.get(accept_url, REMOTE_ADDR="203.0.113.10").status_code,
        client.get(f"{SIGNUP_URL}?invite={token}", REMOTE_ADDR="203.0.113.10").status_code,
        client.get(
            reverse("accounts:invite_accept", args=["guess"]), REMOTE_ADDR="203.0.113.10"
        ).status_code,
    ]
    over = client.get(accept_url, REMOTE_ADDR="203.0.113.10")

    assert visits == [200, 200, 404]
    assert_friendly_429(over, "invite link visits from your network")
    assert client.get(accept_url, REMOTE_ADDR="198.51.100.1").status_code == 200
    cache.clear()
    assert client.get(accept_url, REMOTE_ADDR="203.0.113.10").status_code == 200


def test_signup_without_an_invite_does_not_spend_the_invite_allowance(client, settings):
    settings.INVITE_RATE_PER_IP = "1/h"

    for _ in range(3):
        assert client.get(SIGNUP_URL).status_code == 200
