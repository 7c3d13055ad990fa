"""Limits count against the real client address: X-Forwarded-For is read only from a trusted
proxy, and then only its rightmost hop that is not a trusted proxy."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from core.limits import client_address
from tests.support.accounts import PASSWORD

PROXY = "10.0.0.5"
factory = RequestFactory()


def address(remote_addr: str, forwarded: str | None = None) -> str:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_address(factory.get("/", REMOTE_ADDR=remote_addr, **extra))


def test_without_trusted_proxies_the_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []

    assert address("203.0.113.7", "198.51.100.1") == "203.0.113.7"
    assert address(PROXY, "198.51.100.1") == PROXY


def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    # The client wrote "6.6.6.6" itself; the proxies appended 203.0.113.7 and 10.0.0.9.
    assert address(PROXY, "6.6.6.6, 203.0.113.7, 10.0.0.9") == "203.0.113.7"
    assert address(PROXY, "203.0.113.7") == "203.0.113.7"


def test_a_forwarded_header_from_an_untrusted_peer_is_ignored(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert address("203.0.113.7", "198.51.100.1") == "203.0.113.7"


def test_a_request_from_the_proxy_itself_counts_as_the_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert address(PROXY) == PROXY
    assert address(PROXY, "10.0.0.9") == "10.0.0.9"


def test_garbage_where_a_proxy_should_have_written_an_address_is_not_believed(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert address(PROXY, "203.0.113.7, not-an-address") == PROXY


def test_proxies_that_add_ports_or_brackets_are_understood(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert address(PROXY, "203.0.113.7:51234") == "203.0.113.7"
    assert address(PROXY, "[2001:db8::1]:443") == "2001:db8::"


def test_an_ipv6_client_counts_as_its_64_network(settings):
    settings.TRUSTED_PROXIES = []

    assert address("2001:db8:1:2:aaaa::1") == address("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::"
    assert address("2001:db8:1:3::1") != address("2001:db8:1:2::1")


def test_an_ipv4_mapped_address_is_the_ipv4_address(settings):
    assert address("::ffff:203.0.113.7") == "203.0.113.7"


@pytest.mark.django_db
def test_login_lockout_keys_on_the_forwarded_client_behind_a_trusted_proxy(client, owner, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    login_url = reverse("accounts:login")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(
            login_url,
            {"username": owner.user.email, "password": "wrong"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR="203.0.113.66",
        )

    attacker = client.post(
        login_url,
        {"username": owner.user.email, "password": PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="203.0.113.66",
    )
    owner_elsewhere = client.post(
        login_url,
        {"username": owner.user.email, "password": PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="198.51.100.20",
    )

    assert attacker.status_code == 429
    assert owner_elsewhere.status_code == 302
