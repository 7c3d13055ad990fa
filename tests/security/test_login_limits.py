"""Login is throttled: repeated failures lock out one account from one address, for a while;
one address also meets a ceiling on login attempts across accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.db.models import F
from django.test import Client
from django.urls import reverse

from tests.support.accounts import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("accounts:login")
ATTACKER = "203.0.113.66"
OWNER_HOME = "198.51.100.20"


def try_login(client: Client, email: str, password: str, address: str = ATTACKER):
    return client.post(LOGIN_URL, {"username": email, "password": password}, REMOTE_ADDR=address)


def fail(client: Client, email: str, times: int, address: str = ATTACKER) -> list[int]:
    return [try_login(client, email, "wrong", address).status_code for _ in range(times)]


def lockout_passes(settings) -> None:
    """The lockout period goes by (failures are dated; age them)."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS + 1)
    )


def test_the_sixth_try_is_refused_even_with_the_right_password(client, owner, settings):
    assert settings.LOGIN_FAILURE_LIMIT == 5

    statuses = fail(client, owner.user.email, 5)
    sixth = try_login(client, owner.user.email, PASSWORD)

    assert statuses[:4] == [200] * 4
    assert statuses[4] == 429  # the failure that starts the lockout already says so
    assert sixth.status_code == 429
    assert SESSION_KEY not in client.session
    assert "Please try again in 15 minutes" in sixth.text
    assert 890 <= int(sixth["Retry-After"]) <= 900
    assert reverse("accounts:password_reset") in sixth.text


def test_the_right_password_works_once_the_lockout_has_passed(client, owner, settings):
    fail(client, owner.user.email, 5)
    lockout_passes(settings)

    response = try_login(client, owner.user.email, PASSWORD)

    assert response.status_code == 302
    assert int(client.session[SESSION_KEY]) == owner.user.pk


def test_an_attacker_elsewhere_does_not_lock_the_owner_out_of_their_own_network(client, owner):
    """The lockout is per account *and* address: someone guessing from another network
    stops themselves, not the owner."""
    fail(client, owner.user.email, 10, address=ATTACKER)

    response = try_login(Client(), owner.user.email, PASSWORD, address=OWNER_HOME)

    assert response.status_code == 302


def test_a_lockout_leaves_other_accounts_at_the_same_address_alone(client, owner, make_user):
    colleague = make_user()
    fail(client, owner.user.email, 5)

    assert try_login(Client(), colleague.email, PASSWORD).status_code == 302


def test_spelling_the_email_differently_counts_against_the_same_account(client, owner):
    email = owner.user.email
    for spelling in [email, email.upper(), f"  {email}", email.title(), email.upper()]:
        try_login(client, spelling, "wrong")

    assert try_login(client, email, PASSWORD).status_code == 429


def test_retrying_during_a_lockout_does_not_make_it_longer(client, owner, settings):
    fail(client, owner.user.email, 5)
    started = AccessAttempt.objects.get().attempt_time

    assert fail(client, owner.user.email, 3) == [429] * 3
    assert AccessAttempt.objects.get().attempt_time == started
    lockout_passes(settings)
    assert try_login(client, owner.user.email, PASSWORD).status_code == 302


def test_a_successful_login_forgets_earlier_failures(client, owner):
    fail(client, owner.user.email, 4)
    assert try_login(client, owner.user.email, PASSWORD).status_code == 302
    client.post(reverse("accounts:logout"))

    assert fail(client, owner.user.email, 4) == [200] * 4
    assert try_login(client, owner.user.email, PASSWORD).status_code == 302


def test_the_failure_limit_and_lockout_period_are_settings(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    settings.LOGIN_LOCKOUT_SECONDS = 60

    assert fail(client, owner.user.email, 2) == [200, 429]
    response = try_login(client, owner.user.email, PASSWORD)

    assert response.status_code == 429
    assert 50 <= int(response["Retry-After"]) <= 60
    assert "Please try again in 1 minute" in response.text


def test_unknown_accounts_lock_out_like_real_ones(client):
    """The answer never tells a guesser whether the account exists."""
    statuses = fail(client, "nobody@example.com", 6)

    assert statuses == [200] * 4 + [429, 429]


def test_the_admin_login_is_locked_out_too(client, make_user):
    staff = make_user(is_staff=True)
    for _ in range(5):
        client.post(
            "/admin/login/", {"username": staff.email, "password": "wrong"}, REMOTE_ADDR=ATTACKER
        )

    response = client.post(
        "/admin/login/", {"username": staff.email, "password": PASSWORD}, REMOTE_ADDR=ATTACKER
    )

    assert response.status_code == 429
    assert SESSION_KEY not in client.session


def test_one_address_trying_many_accounts_meets_a_ceiling(client, make_user, settings):
    settings.LOGIN_RATE_PER_IP = "3/h"
    victims = [make_user() for _ in range(4)]
    statuses = [try_login(client, victim.email, "wrong").status_code for victim in victims[:3]]

    refused = try_login(client, victims[3].email, PASSWORD)

    assert statuses == [200] * 3
    assert refused.status_code == 429
    assert "too many login attempts from your network" in refused.text
    assert 0 < int(refused["Retry-After"]) <= 3600
    # Another network is not affected, and once the window has passed the address may log in.
    assert try_login(Client(), victims[3].email, PASSWORD, address=OWNER_HOME).status_code == 302
    cache.clear()
    assert try_login(client, victims[3].email, PASSWORD).status_code == 302


def test_viewing_the_login_page_is_not_counted(client, settings):
    settings.LOGIN_RATE_PER_IP = "1/h"
    for _ in range(3):
        assert client.get(LOGIN_URL, REMOTE_ADDR=ATTACKER).status_code == 200
