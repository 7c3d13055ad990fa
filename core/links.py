"""Links that leave the request: in emails and in Klaviyo events there is no request to build
an absolute URL from, so they start with SITE_URL, the address people reach Partyline at."""

from __future__ import annotations

from django.conf import settings


def absolute_url(path: str) -> str:
    """`path` (from `reverse`) on the site people reach Partyline at."""
    return f"{settings.SITE_URL.rstrip('/')}{path}"
