"""How Partyline logs: plain lines on the console, every handler scrubbing secrets.

Every handler scrubs secrets from what it prints: tokens, authorization codes, PKCE verifiers,
the client secret and Authorization headers, in messages, arguments and exceptions alike
(integrations/klaviyo/redaction.py). A handler added here needs the filter too.
"""

from __future__ import annotations

import logging
from typing import Any

# Requests whose lines are routine (a stylesheet, the icon): not worth a line in a terminal.
QUIET_PATHS = ("/static/", "/favicon.ico")


class RoutineRequests(logging.Filter):
    """Drops what a person would never act on from the request logs: runserver's lines for
    static files that were served, and Django's warning for every 400 (a form a visitor
    filled in wrong, answered with the form and its errors). Errors and other statuses
    stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name == "django.request":
            return status != 400
        if isinstance(status, int) and status < 400 and record.args:
            request_line = str(record.args[0]) if isinstance(record.args, tuple) else ""
            _method, _, rest = request_line.partition(" ")
            return not rest.startswith(QUIET_PATHS)
        return True


def logging_config(*, level: str) -> dict[str, Any]:
    """Django's LOGGING for `level` (LOG_LEVEL)."""
    routine = "DEBUG" if level == "DEBUG" else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact_secrets": {"()": "integrations.klaviyo.redaction.RedactSecretsFilter"},
            "routine_requests": {"()": "config.log_config.RoutineRequests"},
        },
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
            "django.server": {
                "handlers": ["django.server"],
                "level": "INFO",
                "propagate": False,
                "filters": ["routine_requests"],
            },
            "django.request": {"filters": ["routine_requests"]},
            # A line per task run and per file watcher start: routine, unless debugging. A
            # task that fails is logged as an error, and still shows.
            "django_tasks": {"level": routine},
            "django.utils.autoreload": {"level": routine},
            # Its "AXES: BEGIN" banner at every process start; lockouts are warnings and still show.
            "axes.apps": {"level": "WARNING"},
            # Four lines per successful login ("Cleaned up 0 expired access attempts"...):
            # routine. Repeated failures and lockouts are warnings and still show.
            "axes.handlers": {"level": routine},
        },
    }
