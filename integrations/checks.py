"""System checks guarding the Klaviyo settings: the one place their verdicts are written.

`manage.py check` runs them, and `manage.py klaviyo_doctor` runs the same checks through
Django's check framework, one topic (tag) per line of its report. Every message names the
variable a person sets and every hint says what to set it to.

Verdicts that time alone can change (a revision ageing past Klaviyo's support window) are
deployment checks: they gate `check --deploy` and the doctor, never a worker's start.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from integrations.klaviyo.config import (
    DATA_PRIVACY_SCOPES,
    DEFAULT_REVISION,
    DEFAULT_SCOPES,
    EVENT_SCOPES,
    LIST_SCOPES,
    klaviyo_config,
)
from integrations.klaviyo.revision import SUPPORT_MONTHS, UPDATE_AFTER_MONTHS, revision_status

# Tags: every check here has KLAVIYO, and one topic tag the doctor reports it under
# (`manage.py check --tag klaviyo_redirect_uri` runs one topic).
KLAVIYO = "klaviyo"
CREDENTIALS = "klaviyo_credentials"
REDIRECT_URI = "klaviyo_redirect_uri"
SCOPES = "klaviyo_scopes"
REVISION = "klaviyo_revision"
SITE_URL = "site_url"

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@register(KLAVIYO, CREDENTIALS)
def klaviyo_credentials_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.KLAVIYO_SANDBOX:
        return []
    config = klaviyo_config()
    missing = [
        variable
        for variable, value in [
            ("KLAVIYO_CLIENT_ID", config.client_id),
            ("KLAVIYO_CLIENT_SECRET", config.client_secret),
        ]
        if not value
    ]
    if not missing:
        return []
    return [
        Error(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set.",
            hint="Set KLAVIYO_CLIENT_ID and KLAVIYO_CLIENT_SECRET to your Klaviyo OAuth app's "
            "credentials, or KLAVIYO_SANDBOX=true to run against the sandbox Klaviyo.",
            id="integrations.E005",
        )
    ]


@register(KLAVIYO, REDIRECT_URI)
def klaviyo_redirect_uri_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    uri = klaviyo_config().redirect_uri
    callback_path = reverse("integrations:klaviyo_callback")
    hint = (
        f"Set KLAVIYO_REDIRECT_URI=https://<your host>{callback_path}, exactly as allowlisted "
        "in the Klaviyo app."
    )
    if not uri:
        if settings.DEBUG or settings.KLAVIYO_SANDBOX:
            return []
        # A warning: the URI derived from the request works whenever the host and scheme the
        # request arrives with are the allowlisted ones.
        return [
            Warning(
                "KLAVIYO_REDIRECT_URI is not set, so the callback URL is derived from each "
                "request's host, which Klaviyo's allowlist must match exactly.",
                hint=hint,
                id="integrations.W001",
            )
        ]
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problem, check_id = "is not an absolute URL", "integrations.E002"
    elif parts.scheme != "https" and not settings.DEBUG:
        problem = "is not https: the authorization code would travel in clear text"
        check_id = "integrations.E001"
    elif parts.fragment:
        problem, check_id = "has a #fragment", "integrations.E003"
    elif not _leads_to_callback(parts.path):
        problem = f"does not lead to Partyline's callback ({callback_path})"
        check_id = "integrations.E004"
    else:
        return []
    return [Error(f"KLAVIYO_REDIRECT_URI={uri} {problem}.", hint=hint, id=check_id)]


def _leads_to_callback(path: str) -> bool:
    try:
        return resolve(path).view_name == "integrations:klaviyo_callback"
    except Resolver404:
        return False


@register(KLAVIYO, SCOPES)
def klaviyo_scopes_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Without a list scope no connection can work (an error); without an event scope the
    lists still work and only lifecycle events cannot be sent (a warning). `data-privacy:write`
    named there changes nothing (a warning): it is asked per organization."""
    requested = klaviyo_config().scopes
    messages: list[CheckMessage] = []
    hint = (
        f"Set KLAVIYO_SCOPES={' '.join(DEFAULT_SCOPES)!r} (or unset it), and give the Klaviyo "
        f"app those scopes and {' '.join(DATA_PRIVACY_SCOPES)} (asked only of organizations "
        "that turn on Klaviyo deletion); connected accounts gain them when they reconnect."
    )
    missing = [scope for scope in LIST_SCOPES if scope not in requested]
    if missing:
        messages.append(
            Error(
                f"KLAVIYO_SCOPES lacks {', '.join(missing)}, which Partyline needs.",
                hint=hint,
                id="integrations.E006",
            )
        )
    missing_events = [scope for scope in EVENT_SCOPES if scope not in requested]
    if missing_events:
        messages.append(
            Warning(
                f"KLAVIYO_SCOPES lacks {', '.join(missing_events)}, so Partyline cannot send "
                "lifecycle events (the Klaviyo flows they trigger never run); lists still work.",
                hint=hint,
                id="integrations.W006",
            )
        )
    named = [scope for scope in requested if scope in DATA_PRIVACY_SCOPES]
    if named:
        messages.append(
            Warning(
                f"KLAVIYO_SCOPES names {', '.join(named)}, which Partyline asks only of "
                "organizations that turn on Klaviyo deletion, never of every organization.",
                hint=(
                    "Remove it from KLAVIYO_SCOPES (it changes nothing there), and keep it "
                    "among the Klaviyo app's scopes."
                ),
                id="integrations.W007",
            )
        )
    extra = [scope for scope in requested if scope not in DEFAULT_SCOPES + DATA_PRIVACY_SCOPES]
    if extra:
        messages.append(
            Warning(
                f"KLAVIYO_SCOPES also requests {', '.join(extra)}, which Partyline never uses.",
                hint="Ask for the least the product needs: remove them from KLAVIYO_SCOPES.",
                id="integrations.W003",
            )
        )
    return messages


RELEASED_REVISION_HINT = f"Set KLAVIYO_REVISION to a released revision, such as {DEFAULT_REVISION}."


@register(KLAVIYO, REVISION)
def klaviyo_revision_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A revision Klaviyo cannot know: every call would be refused."""
    status = revision_status(klaviyo_config().revision, today=timezone.localdate())
    if not status.is_valid:
        return [
            Error(
                f"KLAVIYO_REVISION={status.revision!r} is not a revision "
                "(YYYY-MM-DD or YYYY-MM-DD.pre).",
                hint=RELEASED_REVISION_HINT,
                id="integrations.E007",
            )
        ]
    if status.is_future:
        return [
            Error(
                f"KLAVIYO_REVISION={status.revision} is dated in the future: Klaviyo has not "
                "released it.",
                hint=RELEASED_REVISION_HINT,
                id="integrations.E008",
            )
        ]
    return []


@register(KLAVIYO, REVISION, deploy=True)
def klaviyo_revision_age_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """How long Klaviyo will keep the revision: time alone moves this verdict."""
    status = revision_status(klaviyo_config().revision, today=timezone.localdate())
    if not status.is_valid or status.is_future:
        return []  # klaviyo_revision_check reports it
    update = (
        "Test Partyline against a newer Klaviyo revision (the OpenAPI spec and changelog list "
        "them) and set KLAVIYO_REVISION to it."
    )
    if status.past_support:
        return [
            Error(
                f"KLAVIYO_REVISION={status.revision} is {status.age_text}: past Klaviyo's "
                "support window of about two years.",
                hint=update,
                id="integrations.E009",
            )
        ]
    if status.should_update:
        # A warning, not an error: the revision still works, and a deploy gate must not
        # start failing because time passed.
        return [
            Warning(
                f"KLAVIYO_REVISION={status.revision} is {status.age_text} and should be "
                f"updated: Klaviyo supports a revision for about {SUPPORT_MONTHS} months, so "
                f"update it from {UPDATE_AFTER_MONTHS} months on.",
                hint=update,
                id="integrations.W004",
            )
        ]
    if status.is_beta and not settings.DEBUG:
        return [
            Warning(
                f"KLAVIYO_REVISION={status.revision} is a beta revision ({status.age_text}), "
                "which Klaviyo may change without notice.",
                hint="Use the released revision of that date (drop .pre) in production.",
                id="integrations.W005",
            )
        ]
    return []


@register(KLAVIYO, SITE_URL)
def site_url_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Emails sent by workers (a connection needing reconnect) link to SITE_URL."""
    host = urlsplit(settings.SITE_URL).hostname or ""
    if settings.DEBUG or settings.KLAVIYO_SANDBOX or host not in LOCAL_HOSTS:
        return []
    return [
        Warning(
            f"SITE_URL is {settings.SITE_URL}: links in emails would point at this machine.",
            hint="Set SITE_URL to the address people reach Partyline at, e.g. "
            "https://partyline.example.com (unset, it is the origin of an absolute "
            "KLAVIYO_REDIRECT_URI, else http://127.0.0.1:8000).",
            id="integrations.W002",
        )
    ]
