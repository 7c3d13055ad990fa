"""Abuse limits: who a request comes from, how many tries it has left, and the 429 answer.

Every limit that counts per client address keys on `client_address`, the one place that
decides which address a request comes from. Counters live in the cache (django-ratelimit).
The product's own limits (login, password reset, signups, invites) are declared by the apps
that own those pages (`accounts/limits.py`, `parties/public_views.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django_ratelimit.core import get_usage

from core.wording import wait_text

TOO_MANY_TEMPLATE = "429.html"
# One IPv6 subscriber is handed a whole /64: counting single addresses in it would give one
# person 2**64 fresh tries.
IPV6_PREFIX = 64
# REMOTE_ADDR is empty behind a Unix-socket proxy that is not configured to pass it on: such
# requests share one counter rather than escaping the limits. An address value to count by,
# not a socket bound to every interface (ruff's S104, bandit's B104).
UNKNOWN_ADDRESS = "0.0.0.0"  # noqa: S104  # nosec B104

ResponseT = TypeVar("ResponseT", bound=HttpResponseBase)


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
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
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
) -> Callable[[Callable[..., ResponseT]], Callable[..., ResponseT | HttpResponse]]:
    """Answer the 429 page instead of running the view once a request is over a limit.
    `reason` finishes "There were too many ..." (`login attempts from your network`)."""

    def decorate(view: Callable[..., ResponseT]) -> Callable[..., ResponseT | HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> ResponseT | HttpResponse:
            wait = over_limit(request, *limits)
            if wait:
                return too_many_requests(request, retry_after=wait, reason=reason)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
