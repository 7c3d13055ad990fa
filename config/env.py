"""Reading the environment: the one place that turns variables into settings or a clear error."""

import re
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

SUPPORTED_DATABASE_ENGINES = {
    "django.db.backends.sqlite3": "sqlite",
    "django.db.backends.postgresql": "postgresql",
}


class ConfigurationError(ImproperlyConfigured):
    """A setting is missing or malformed; the message names the variable and says what to do."""


@contextmanager
def exit_on_configuration_error() -> Iterator[None]:
    """Stop the process with one readable line instead of a traceback.

    Settings are imported by manage.py, the WSGI/ASGI servers and the task worker alike; a
    SystemExit carrying a message prints it to stderr and exits with status 1 in all of them.
    """
    try:
        yield
    except (ConfigurationError, ImproperlyConfigured, ValueError) as error:
        raise SystemExit(f"Partyline configuration error: {error}") from None


def development_secret_key(path: Path) -> str:
    """A random SECRET_KEY for DEBUG runs, created once and kept in a git-ignored file."""
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


def origin(url: str) -> str | None:
    """The origin (scheme://host[:port]) of an absolute http(s) URL, as Content-Security-Policy
    names it; None for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def url_origin(url: str, *, variable: str) -> str:
    """The origin of the URL in `variable`, which must be an absolute http(s) URL."""
    found = origin(url)
    if found is None:
        raise ConfigurationError(f"{variable} has {url!r}, which is not an absolute http(s) URL.")
    return found


DJANGO_REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


def cache_config(variable: str, *, default: str) -> dict[str, Any]:
    """Parse a cache URL into Django's CACHES entry; Redis gets Django's backend with one
    client per connection pool (core.cache) instead of one built for every call."""
    config = env.cache_url(variable, default=default)
    if config["BACKEND"] == DJANGO_REDIS_CACHE:
        config["BACKEND"] = "core.cache.RedisCache"
    return config


def database_config(variable: str, *, default: str, base_dir: Path) -> dict[str, Any]:
    """Parse a database URL into Django's DATABASES entry, tuned for its engine.

    SQLite must hold a web process and a task worker writing at the same time: WAL lets
    readers proceed during a write, IMMEDIATE transactions take the write lock up front (so a
    transaction never fails half-way on lock upgrade) and the busy timeout makes a writer wait
    for the lock instead of answering "database is locked".
    PostgreSQL keeps connections open between requests, with a health check before reuse.
    """
    url = env.str(variable, default=default)
    try:
        with warnings.catch_warnings():
            # An unknown scheme is reported below, in one line, instead of as a warning.
            warnings.simplefilter("ignore")
            config = environ.Env.db_url_config(url)
    except (ValueError, KeyError) as error:
        raise ConfigurationError(f"{variable} is malformed ({error}).") from None
    vendor = SUPPORTED_DATABASE_ENGINES.get(config.get("ENGINE", ""))
    if vendor is None:
        raise ConfigurationError(
            f"{variable} is not a supported database URL: use sqlite:///path/to/file.sqlite3 "
            "or postgres://user:password@host:5432/name."
        )
    if not config.get("NAME"):
        raise ConfigurationError(f"{variable} does not name a database.")

    if vendor == "sqlite":
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
            "init_command": (
                "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
            ),
        }
        # Tests use a file, not the in-memory default, so that worker processes and threads
        # see the same database with the same locking as in production.
        name = Path(config["NAME"])
        if not name.is_absolute():
            name = base_dir / name
        config["NAME"] = str(name)
        config["TEST"] = {"NAME": str(name.with_name(f"test_{name.stem}.sqlite3"))}
    else:
        config["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
        config["CONN_HEALTH_CHECKS"] = True
        # Behind PgBouncer in transaction mode a named cursor (the CSV export's streaming
        # read) could land on another server connection between fetches.
        config["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
            "DISABLE_SERVER_SIDE_CURSORS", default=False
        )
    return config


# django-ratelimit's rate syntax: a count, a slash, then an optional multiplier and a unit.
RATE_PATTERN = re.compile(r"^[1-9]\d*/(?:[1-9]\d*)?[smhd]$")


def rate(variable: str, *, default: str) -> str:
    """A rate such as `10/h` or `5/15m`, checked at startup rather than at the first request."""
    value = env.str(variable, default=default).strip()
    if not RATE_PATTERN.match(value):
        raise ConfigurationError(
            f"{variable} is not a rate: write a count and a period, such as 10/m, 100/h or "
            "5/15m (s, m, h or d)."
        )
    return value


def positive_int(variable: str, *, default: int) -> int:
    value = env.int(variable, default=default)
    if value < 1:
        raise ConfigurationError(f"{variable} must be 1 or more.")
    return value


def ip_networks(variable: str) -> list[str]:
    """A comma-separated list of addresses or networks (`10.0.0.0/8, 192.0.2.7`), normalized."""
    networks = []
    for entry in env.list(variable, default=[]):
        try:
            networks.append(str(ip_network(entry.strip(), strict=False)))
        except ValueError:
            raise ConfigurationError(
                f"{variable} has {entry!r}, which is not an IP address or network "
                "(such as 10.0.0.0/8 or 192.0.2.7)."
            ) from None
    return networks
