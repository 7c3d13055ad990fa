"""Identifiers shaped like Klaviyo's: 6-character list ids and 26-character ULIDs."""

from __future__ import annotations

import secrets
import string
import threading
from datetime import datetime

_ALPHANUMERIC = string.ascii_letters + string.digits
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def short_id() -> str:
    """A list id such as `Y6nRLr`."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(6))


def ulid(at: datetime) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base32 (26 characters).

    Sorting ULIDs sorts by creation time, which keyset pagination and the job queue rely on.
    Within one millisecond (always, on a test's frozen clock) the random part counts up, as
    in the ULID spec's monotonic mode, so ids made in this process keep their creation order.
    """
    global _last_ms, _last_random
    ms = int(at.timestamp() * 1000)
    with _lock:
        if ms == _last_ms and _last_random < (1 << _RANDOM_BITS) - 1:
            _last_random += 1
        else:
            _last_random = secrets.randbits(_RANDOM_BITS - 1)  # room to count up
        _last_ms = ms
        value = (ms << _RANDOM_BITS) | _last_random
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return "".join(reversed(chars))
