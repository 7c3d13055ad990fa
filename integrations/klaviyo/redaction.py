"""Keeping secrets out of text: exception messages, error details and every log record.

Two nets, because a secret can reach a log line with or without a label:

- the shapes secrets take: `Authorization: Bearer ...` or `Basic ...`, form and query
  fields (`code=`, `refresh_token=`...), JSON or dict entries (`"access_token": "..."`) and
  Partyline's own `pl_...` API tokens;
- the values themselves: every secret this process handles (tokens, authorization codes, PKCE
  verifiers) is remembered here when it is decrypted, encrypted, sent to or received from
  Klaviyo, so it is scrubbed even when it shows up bare, say in an exception's message. The
  memory is bounded (the most recently handled secrets) and per process, which is where the
  secret was handled.

`RedactSecretsFilter` applies both to every log record; LOGGING in config/settings.py installs
it on every handler. Plain Python and `logging` only: it is imported while logging is set up,
before Django's apps are loaded.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

REDACTED = "[redacted]"
# Long enough for any of Klaviyo's details, short enough that an echoed page cannot flood a log.
MAX_DETAIL = 500
# Shorter values are not remembered: scrubbing every "abc" from the logs would hide more than
# it protects, and no real token, code or verifier is that short.
MIN_SECRET_LENGTH = 8
# How many recently handled secrets are remembered (a few per connection in use).
REMEMBERED_SECRETS = 2048

# Names whose value is a secret wherever they appear as `name=value` or `"name": "value"`.
_SENSITIVE_NAMES = (
    r"access_token|refresh_token|id_token|code_verifier|client_secret|token|code|"
    r"password|secret|authorization|api_key"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values, in any rendering: `Bearer abc`, `Basic dXNlcjpwYXNz`.
    (
        re.compile(r"\b(Bearer|Basic)(\s+)(?!\[redacted\])[^\s\"',;}\]]+", re.IGNORECASE),
        rf"\1\2{REDACTED}",
    ),
    # `"access_token": "abc"`, `'code': 'abc'`, `authorization="abc"` (JSON, reprs, kwargs).
    (
        re.compile(
            rf"(?P<head>[\"']?\b(?:{_SENSITIVE_NAMES})\b[\"']?\s*[:=]\s*)"
            r"(?P<quote>[\"'])(?!\[redacted\])(?:(?!(?P=quote)).)*(?P=quote)",
            re.IGNORECASE,
        ),
        rf"\g<head>\g<quote>{REDACTED}\g<quote>",
    ),
    # Query strings and form bodies: `code=abc&state=...`, `refresh_token=abc`.
    (
        re.compile(rf"(\b(?:{_SENSITIVE_NAMES})=)(?![\"'\[])[^&\s\"'<>(),;]+", re.IGNORECASE),
        rf"\1{REDACTED}",
    ),
    # A header line without a scheme: `Authorization: abc`.
    (
        re.compile(
            r"(\bAuthorization:\s*)(?![\"'\[])(?!(?:Bearer|Basic)\b)[^\s,;]+", re.IGNORECASE
        ),
        rf"\1{REDACTED}",
    ),
    # Partyline's personal API tokens.
    (re.compile(r"\bpl_[A-Za-z0-9_-]{16,}"), f"pl_{REDACTED}"),
)

_remembered: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()


def remember_secret(*values: str | None) -> None:
    """Scrub these values from every log record and error detail from now on."""
    with _lock:
        for value in values:
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
                _remembered[value] = None
                _remembered.move_to_end(value)
        while len(_remembered) > REMEMBERED_SECRETS:
            _remembered.popitem(last=False)


def remembered_secrets() -> list[str]:
    with _lock:
        return list(_remembered)


def redact(
    text: str | None, secrets: Iterable[str | None] = (), *, max_length: int | None = MAX_DETAIL
) -> str | None:
    """`text` with the given secrets, every remembered secret and every secret-shaped value
    replaced, cut to `max_length` characters (None: no limit)."""
    if not text:
        return text
    present = {secret for secret in (*secrets, *remembered_secrets()) if secret and secret in text}
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted(present, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    if max_length is not None and len(text) > max_length:
        text = text[:max_length] + "..."
    return text


def _configured_secrets() -> list[str]:
    """The deployment's own secrets: the OAuth client secret and the signing keys."""
    from django.conf import settings

    if not settings.configured:
        return []
    values = [
        getattr(settings, "KLAVIYO_CLIENT_SECRET", ""),
        getattr(settings, "SECRET_KEY", ""),
        *getattr(settings, "SECRET_KEY_FALLBACKS", []),
    ]
    return [v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH]


# LogRecord's own attributes; anything else on a record came through `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_formatter = logging.Formatter()


class RedactSecretsFilter(logging.Filter):
    """Scrubs secrets from a record's message, arguments, exception, stack and extras.

    The record is changed in place (message formatted and scrubbed, `args` emptied, the
    exception rendered to scrubbed text and dropped), so every handler after this one, and
    any formatter, sees only the scrubbed record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._scrub(record)
        except Exception:  # a filter that raises would break the caller's logging call
            record.msg = "[log record dropped: it could not be checked for secrets]"
            record.args = ()
            record.exc_info = record.exc_text = record.stack_info = None
        return True

    def _scrub(self, record: logging.LogRecord) -> None:
        secrets = _configured_secrets()
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg} (arguments that did not fit: {record.args!r})"
        record.msg = redact(message, secrets, max_length=None)
        record.args = ()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = _formatter.formatException(record.exc_info)
            # The exception object keeps its arguments; only its scrubbed rendering stays.
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets, max_length=None)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets, max_length=None)
        for name, value in list(vars(record).items()):
            if name not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, redact(value, secrets, max_length=None))
