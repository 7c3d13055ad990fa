"""Identifiers shaped like Klaviyo's: 6-character list ids and 26-character ULIDs."""

from __future__ import annotations

import secrets
import string
from datetime import datetime

_ALPHANUMERIC = string.ascii_letters + string.digits
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def short_id() -> str:
    """A list id such as `Y6nRLr`."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(6))


def ulid(at: datetime) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base32 (26 characters).

    Sorting ULIDs sorts by creation time, which keyset pagination relies on.
    """
    value = (int(at.timestamp() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return "".join(reversed(chars))
