"""How Partyline logs: plain lines on the console, every handler scrubbing secrets.

Every handler scrubs secrets from what it prints: tokens, authorization codes, PKCE verifiers,
the client secret and Authorization headers, in messages, arguments and exceptions alike
(integrations/klaviyo/redaction.py). A handler added here needs the filter too.
"""

from __future__ import annotations

from typing import Any


def logging_config(*, level: str) -> dict[str, Any]:
    """Django's LOGGING for `level` (LOG_LEVEL)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_secrets": {"()": "integrations.klaviyo.redaction.RedactSecretsFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "django.server": {
                "()": "django.utils.log.ServerFormatter",
                "format": "[{server_time}] {message}",
                "style": "{",
            },
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["redact_secrets"],
            },
            # runserver's request lines, whose query strings carry the OAuth callback's code.
            "django.server": {
                "class": "logging.StreamHandler",
                "formatter": "django.server",
                "filters": ["redact_secrets"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {"handlers": ["console"], "level": level, "propagate": False},
            "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
            # Its "AXES: BEGIN" banner at every process start; lockouts are warnings and still show.
            "axes.apps": {"level": "WARNING"},
        },
    }
