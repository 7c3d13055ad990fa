"""The small exception hierarchy every Klaviyo failure is mapped to.

Callers branch on the class (reconnect, wait, mark an attendee failed, try again later) and
show `str(exc)`, so a message is built only from Klaviyo's status, error code, detail and
pointer: never from a request, its headers or its body. Details are passed through `redact`
with the secrets of the request that failed, in case Klaviyo echoes one back (and `redact`
also scrubs every secret this process has handled, and anything shaped like one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# `redact` lives beside the log filter that also uses it; callers may import it from here.
from integrations.klaviyo.redaction import redact


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The Retry-After header in seconds, or None when absent or not a number.

    Klaviyo sends integer seconds on every 429; the HTTP-date form that RFC 9110 section
    10.2.3 also allows is not used by Klaviyo, so it counts as absent (the caller backs off).
    """
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


class KlaviyoError(Exception):
    """Any failure talking to Klaviyo; `status` is None when no response arrived."""

    def __init__(
        self,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        pointer: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = redact(detail)
        self.pointer = pointer
        super().__init__(str(self))

    def __str__(self) -> str:
        head = " ".join(
            part
            for part in (
                f"HTTP {self.status}" if self.status is not None else None,
                self.code,
            )
            if part
        )
        text = head or "Klaviyo error"
        if self.detail:
            text = f"{text}: {self.detail}"
        if self.pointer:
            text = f"{text} (at {self.pointer})"
        return text


class KlaviyoAuthError(KlaviyoError):
    """The API rejected the access token (401) even after one refresh."""


class KlaviyoRequestRejected(KlaviyoError):
    """A 4xx that sending the same request again cannot fix (400, 403, 404, 405, 409, 413,
    414, 422, ...), whatever its body (Klaviyo's JSON:API error, or a proxy's HTML page).

    A defect of this request, not an outage: never retried unchanged. The caller changes the
    request (a smaller batch, one profile fewer) or records why it cannot be made. 401, 408
    and 429 are not here: they have their own paths (refresh, retry, wait), and neither is a
    403 challenge page (an outage: `KlaviyoUnavailable`).
    """


class KlaviyoPermissionDenied(KlaviyoRequestRejected):
    """403 from the API: the token lacks a scope (installs keep the scopes they were granted)."""


class KlaviyoNotFound(KlaviyoRequestRejected):
    """404: the resource does not exist in this Klaviyo account (or not in this revision)."""


class KlaviyoValidationError(KlaviyoRequestRejected):
    """400: Klaviyo refused the input; `pointer` names the offending field when it says so."""


class KlaviyoConflict(KlaviyoRequestRejected):
    """409: an identifier already belongs to a profile, whose id Klaviyo reports."""

    def __init__(
        self,
        *,
        duplicate_profile_id: str | None = None,
        status: int | None = 409,
        code: str | None = None,
        detail: str | None = None,
        pointer: str | None = None,
    ) -> None:
        self.duplicate_profile_id = duplicate_profile_id
        super().__init__(status=status, code=code, detail=detail, pointer=pointer)


class KlaviyoRateLimited(KlaviyoError):
    """429: try again in `retry_after` seconds (longer than we were willing to wait inline)."""

    def __init__(
        self,
        *,
        retry_after: float,
        status: int | None = 429,
        code: str | None = None,
        detail: str | None = None,
        pointer: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status=status, code=code, detail=detail, pointer=pointer)

    def __str__(self) -> str:
        return f"{super().__str__()} (retry after {self.retry_after:g}s)"


class KlaviyoUnavailable(KlaviyoError):
    """Klaviyo could not be reached, timed out (or answered 408), or answered 5xx (or a
    challenge page), after any retries.

    Transient by nature: the work is kept and tried again later.
    """


class KlaviyoOAuthError(KlaviyoError):
    """The token or revoke endpoint refused the request (RFC 6749 section 5.2 error response).

    `error` is the RFC's error code (also in `code`), `error_description` its human text.
    """

    def __init__(
        self,
        *,
        error: str | None = None,
        error_description: str | None = None,
        status: int | None = None,
    ) -> None:
        self.error = error
        self.error_description = redact(error_description)
        super().__init__(status=status, code=error, detail=error_description)


class KlaviyoInvalidGrant(KlaviyoOAuthError):
    """`invalid_grant`: the code or refresh token is dead; the connection must be reconnected."""


class KlaviyoInvalidClient(KlaviyoOAuthError):
    """Our app is misconfigured (client credentials, client type, or redirect URI): an operator
    must fix the settings; reconnecting will not help."""
