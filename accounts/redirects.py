"""Where a `next` parameter may send the browser: back into Partyline, nowhere else."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

NEXT_FIELD = "next"


def allowed_next(request: HttpRequest) -> str:
    """The posted or queried `next` if it stays on this site, else "".

    Django's check refuses other hosts (`https://evil.example`), scheme-relative and
    backslash tricks (`//evil.example`, `/\\evil.example`), non-http schemes
    (`javascript:`), and plain http when this request came over https.
    """
    candidate = request.POST.get(NEXT_FIELD) or request.GET.get(NEXT_FIELD) or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def safe_next_url(request: HttpRequest, *, default: str = "home") -> str:
    """Where to go after a form: the allowed `next`, else `default` (a URL name)."""
    return allowed_next(request) or resolve_url(default)
