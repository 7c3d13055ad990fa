"""Whether a Redis server is there for the tests of the shared cache."""

from __future__ import annotations

import socket


def redis_answers() -> bool:
    """Whether a Redis server answers on 127.0.0.1:6379 (tests of the shared cache need one)."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False
