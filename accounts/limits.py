"""The account pages' abuse limits, and django-axes' view of failed logins.

The mechanism (client address, counters, the 429 page) is `core.limits`; this module names
the limits of login, password reset, account signup and invites. Failed logins are counted by
django-axes in the database (see `config/settings.py`, "Abuse limits").
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import normalize_email
from core.limits import Limit, client_address, too_many_requests


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
