"""The sites an organization lets embed its signup forms: web origins (scheme, host and port),
as Content-Security-Policy's `frame-ancestors` names them.

An origin is stored in one spelling, so the header and the settings page agree: lower case,
the host in ASCII (an internationalized name as its punycode), no default port, no slash.
HTTPS only, except a developer's own machine (http://localhost, http://127.0.0.1): a page
served over plain http can be altered on the way, and with it what it frames.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

# Each one is a source in every embedded form's response header: a few sites, not a directory.
MAX_ORIGINS = 20
DEVELOPMENT_HOSTS = frozenset({"localhost", "127.0.0.1"})
DEFAULT_PORTS = {"https": 443, "http": 80}
# A DNS name's labels: letters, digits and inner hyphens (after IDNA), at most 63 each.
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# A scheme and its colon not followed by a port's digits ("localhost:3000" is a host).
SCHEME_ONLY = re.compile(r"^[a-z][a-z0-9+.-]*:(?!\d)", re.IGNORECASE)
EXAMPLE = "https://www.example.com"


def normalize_origin(text: str) -> str:
    """`text` as a stored origin, or ValidationError saying what to write instead. A bare
    host ("www.example.com") means its https origin."""
    value = text.strip()
    if not value:
        raise ValidationError(
            "Enter a site's address, like %(example)s.", params={"example": EXAMPLE}
        )
    if "://" not in value:
        if SCHEME_ONLY.match(value):  # "javascript:...", "mailto:...": no site at all
            raise _invalid(text, "it must start with https://")
        value = f"https://{value}"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:  # a port that is not a number, or out of range
        raise _invalid(text, "its port is not a number from 1 to 65535") from error
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in DEFAULT_PORTS:
        raise _invalid(text, "it must start with https://")
    if parts.username is not None or parts.password is not None:
        raise _invalid(text, "it must not hold a user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _invalid(text, f"give the site only, without a page: like {EXAMPLE}")
    if "*" in host:
        raise _invalid(text, "name each site in full: wildcards are not allowed")
    ascii_host = _ascii_host(text, host)
    if scheme == "http" and ascii_host not in DEVELOPMENT_HOSTS:
        raise _invalid(
            text, "it must use https:// (plain http is only for http://localhost while developing)"
        )
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{ascii_host}"
    return f"{scheme}://{ascii_host}:{port}"


def validate_origins(origins: list[str]) -> None:
    """Origins as stored: a list of distinct normalized origins, at most MAX_ORIGINS."""
    if not isinstance(origins, list) or not all(isinstance(item, str) for item in origins):
        raise ValidationError("The sites allowed to embed are a list of web addresses.")
    if len(origins) > MAX_ORIGINS:
        raise ValidationError(f"Allow at most {MAX_ORIGINS} sites to embed your forms.")
    if len(set(origins)) != len(origins):
        raise ValidationError("Give each site once.")
    for origin in origins:
        if normalize_origin(origin) != origin:
            raise ValidationError(f"{origin} is not written as a site's origin.")


def _ascii_host(text: str, host: str) -> str:
    if ":" in host:  # an IPv6 literal: sites are named, and a developer's is localhost
        raise _invalid(text, "use a host name, like www.example.com")
    try:
        ascii_host = host.encode("idna").decode("ascii") if host else ""
    except UnicodeError as error:
        raise _invalid(text, "its host name is not a valid domain name") from error
    labels = ascii_host.split(".")
    if not ascii_host or len(ascii_host) > 253 or not all(LABEL.match(label) for label in labels):
        raise _invalid(text, "its host name is not a valid domain name")
    if ascii_host not in DEVELOPMENT_HOSTS and len(labels) < 2:
        raise _invalid(text, f"write the site's full name, like {EXAMPLE}")
    return ascii_host


def _invalid(text: str, why: str) -> ValidationError:
    return ValidationError(
        "“%(value)s” is not a site's address: %(why)s.", params={"value": text.strip(), "why": why}
    )
