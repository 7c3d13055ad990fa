"""Abuse limits: who a request comes from, how many tries it has left, and the 429 answer.

Every limit that counts per client address keys on `client_address`, the one place that
decides which address a request comes from (login, password reset, account and party
signups, invites). Counters live in the cache (django-ratelimit), except failed logins,
which django-axes keeps in the database (see `config/settings.py`, "Abuse limits").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django_ratelimit.core import get_usage

from accounts.models import normalize_email

TOO_MANY_TEMPLATE = "429.html"
# One IPv6 subscriber is handed a whole /64: counting single addresses in it would give one
# person 2**64 fresh tries.
IPV6_PREFIX = 64
# REMOTE_ADDR is empty behind a Unix-socket proxy that is not configured to pass it on: such
# requests share one counter rather than escaping the limits. An address value to count by,
# not a socket bound to every interface (ruff's S104, bandit's B104).
UNKNOWN_ADDRESS = "0.0.0.0"  # noqa: S104  # nosec B104


# --- The client address ------------------------------------------------------------------


def _parse_address(value: str) -> IPv4Address | IPv6Address | None:
    """An address as a proxy writes it (`1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`)."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ip_address(value)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_trusted_proxy(address: IPv4Address | IPv6Address) -> bool:
    return any(address in ip_network(network) for network in settings.TRUSTED_PROXIES)


def client_address(request: HttpRequest) -> str:
    """The address a request's limits count against.

    The peer that opened the connection (REMOTE_ADDR) is the client, unless it is one of
    `TRUSTED_PROXIES`. Only then is `X-Forwarded-For` read, from the right: each trusted proxy
    appends the address it received the request from, so the rightmost hop that is not a
    trusted proxy is the client. Everything to its left was written by the client and could
    say anything, so it is never believed; with no trusted proxies (the default) the header
    is ignored altogether. An IPv6 client counts as its /64.
    """
    address = _parse_address(request.META.get("REMOTE_ADDR", ""))
    if address is None:
        return UNKNOWN_ADDRESS
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [hop for hop in forwarded.split(",") if hop.strip()]
    while hops and _is_trusted_proxy(address):
        previous = _parse_address(hops.pop())
        if previous is None:
            # A trusted proxy writes a real address; garbage here means it did not append
            # one, so the last proxy we trust is as close to the client as we can tell.
            break
        address = previous
    if isinstance(address, IPv6Address):
        return str(ip_network(f"{address}/{IPV6_PREFIX}", strict=False).network_address)
    return str(address)


# --- Counting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """One counter: requests with the same key share `rate` (a setting's name, read at each
    request, in django-ratelimit's syntax such as `10/h`). A key of "" counts nothing."""

    group: str
    rate_setting: str
    key: Callable[[HttpRequest], str] = client_address
    methods: tuple[str, ...] = ("POST",)


def count(request: HttpRequest, *, group: str, rate: str, key: str) -> int:
    """Count one request against `key`'s counter; the seconds until it may try again when
    this request is over the rate, else 0."""
    usage = get_usage(
        request, group=group, key=lambda _group, _request: key, rate=rate, increment=True
    )
    if usage is None or not usage["should_limit"]:
        return 0
    # A cache that cannot count answers time_left=-1: refuse, and let them retry soon.
    return max(1, usage["time_left"])


def over_limit(request: HttpRequest, *limits: Limit) -> int:
    """Count this request against each limit that applies to it; the longest wait among those
    it is over, or 0 when it is within all of them."""
    wait = 0
    for limit in limits:
        if request.method not in limit.methods:
            continue
        key = limit.key(request)
        if key:
            rate = getattr(settings, limit.rate_setting)
            wait = max(wait, count(request, group=limit.group, rate=rate, key=key))
    return wait


# --- The answer over a limit -------------------------------------------------------------------


def wait_text(seconds: int) -> str:
    """`42 seconds`, `15 minutes`, `2 hours`: rounded up, so trying then works."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 2 * 60 * 60:
        minutes = math.ceil(seconds / 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{math.ceil(seconds / 3600)} hours"


def too_many_requests(
    request: HttpRequest, *, retry_after: int, reason: str, login_lockout: bool = False
) -> HttpResponse:
    """The friendly 429 page, saying when to try again, with a `Retry-After` header."""
    response = render(
        request,
        TOO_MANY_TEMPLATE,
        {
            "reason": reason,
            "retry_after": retry_after,
            "wait": wait_text(retry_after),
            "login_lockout": login_lockout,
        },
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


def limited(
    *limits: Limit, reason: str
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Answer the 429 page instead of running the view once a request is over a limit.
    `reason` finishes "There were too many ..." (`login attempts from your network`)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            wait = over_limit(request, *limits)
            if wait:
                return too_many_requests(request, retry_after=wait, reason=reason)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def posted_email(request: HttpRequest) -> str:
    """The email address a form posts, spelled as accounts store it ("" if none)."""
    return normalize_email(request.POST.get("email", ""))


def _invite_address(request: HttpRequest) -> str:
    """Requests that carry an invite token count per address; others not at all."""
    return client_address(request) if request.GET.get("invite") else ""


# --- The limits of the account pages --------------------------------------------------------

LOGIN_PER_ADDRESS = Limit("login-ip", "LOGIN_RATE_PER_IP")
PASSWORD_RESET_PER_ADDRESS = Limit("password-reset-ip", "PASSWORD_RESET_RATE_PER_IP")
PASSWORD_RESET_PER_EMAIL = Limit(
    "password-reset-email", "PASSWORD_RESET_RATE_PER_EMAIL", posted_email
)
ACCOUNT_SIGNUP_PER_ADDRESS = Limit("account-signup-ip", "ACCOUNT_SIGNUP_RATE_PER_IP")
INVITE_PER_ADDRESS = Limit("invite-ip", "INVITE_RATE_PER_IP", methods=("GET", "HEAD", "POST"))
SIGNUP_INVITE_PER_ADDRESS = Limit(
    "invite-ip", "INVITE_RATE_PER_IP", _invite_address, methods=("GET", "HEAD", "POST")
)


# --- Failed logins (django-axes) ------------------------------------------------------------
# Settings point django-axes at these, so the product's own settings stay the one place for
# the numbers and `client_address` the one place for the address.


def login_failure_limit(request: HttpRequest | None, credentials: dict | None) -> int:
    return settings.LOGIN_FAILURE_LIMIT


def login_lockout_period(request: HttpRequest | None) -> timedelta:
    return timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)


def login_username(request: HttpRequest, credentials: dict | None) -> str:
    """The account a login attempt is for, in the one spelling logins match on, so that
    `Owner@Example.com` and `owner@example.com` share one failure count."""
    if credentials and credentials.get("username"):
        username = credentials["username"]
    else:
        username = getattr(request, "POST", {}).get("username", "")
    return normalize_email(username or "")


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """What a locked-out login attempt sees: the 429 page with the time the lockout ends
    (counted from the failure that started it) and a way to reset the password."""
    from axes.models import AccessAttempt

    period = login_lockout_period(request)
    last_failure = AccessAttempt.objects.filter(
        username=login_username(request, credentials),
        ip_address=getattr(request, "axes_ip_address", None) or client_address(request),
        attempt_time__gte=timezone.now() - period,
    ).aggregate(last=Max("attempt_time"))["last"]
    ends = (last_failure or timezone.now()) + period
    retry_after = max(1, math.ceil((ends - timezone.now()).total_seconds()))
    return too_many_requests(
        request,
        retry_after=retry_after,
        reason="failed logins to this account from your network",
        login_lockout=True,
    )
