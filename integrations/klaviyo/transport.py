"""The one door to Klaviyo's REST API: `Transport.request`, which every operation goes through.

It paces each call under the account's rate-limit budget (`ratelimits.RateBudget`), adds the
bearer token and `revision` header, refreshes once on a 401, waits out 429s, backs off on 5xx,
408 and timeouts (within `KlaviyoConfig` bounds), maps every other failure to
`integrations.klaviyo.errors` (a 4xx that retrying cannot fix is a `KlaviyoRequestRejected`,
whatever its body), and writes one log line per response: method, path, status, duration and
retry-after, never headers, tokens, query strings or bodies.
"""

from __future__ import annotations

import http.cookiejar
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from core.backoff import backoff_delay
from integrations.klaviyo.config import KlaviyoConfig
from integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoConflict,
    KlaviyoError,
    KlaviyoNotFound,
    KlaviyoPermissionDenied,
    KlaviyoRateLimited,
    KlaviyoRequestRejected,
    KlaviyoUnavailable,
    KlaviyoValidationError,
    redact,
    retry_after_seconds,
)
from integrations.klaviyo.ratelimits import RateBudget
from integrations.klaviyo.records import JSONDict, as_mapping

logger = logging.getLogger(__name__)

JSON_API = "application/vnd.api+json"
# Worth another try: server errors, including Cloudflare's 524 origin timeout (which
# Klaviyo's own SDK retries too).
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504, 524})
# RFC 9110 section 15.5.9: the server did not receive the whole request in time and did not
# act on it ("the client MAY repeat that request"), so it is retried like a timeout, and even
# a create may be sent again.
REQUEST_TIMEOUT = 408
_BACKOFF_BASE = 0.5  # seconds before the first retry; doubles each time


class TokenSource(Protocol):
    """Where a client gets access tokens (implemented by the connection's token store)."""

    def access_token(self) -> str:
        """A currently valid access token (refreshed first if it is about to expire)."""
        ...

    def refreshed_access_token(self, *, rejected: str) -> str:
        """A token newer than `rejected`, which Klaviyo just answered with 401.

        Refreshes single-flight, or returns the token another worker already obtained.
        """
        ...


_local = threading.local()


def _session() -> requests.Session:
    """This thread's session, reused across calls and clients for connection pooling."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        # One session serves every connection on this thread: keep no cookies, so nothing set
        # in one Klaviyo account's response rides along on another account's requests.
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        _local.session = session
    return session


class Transport:
    """Sends API calls for one connected Klaviyo account; cheap to build, safe to share."""

    def __init__(
        self,
        *,
        token_source: TokenSource,
        config: KlaviyoConfig,
        sleep: Callable[[float], None] = time.sleep,
        budget: RateBudget | None = None,
        account_id: str = "",
    ) -> None:
        """`budget` paces every call to the Klaviyo account `account_id` (without both, only
        Klaviyo's 429s pace the client: the one call made before the account is known)."""
        self._tokens = token_source
        self._config = config
        self._sleep = sleep
        self._budget = budget if account_id else None
        self._account_id = account_id

    def url(self, path: str) -> str:
        """The absolute URL of an API path, or of a link Klaviyo gave (only ever back to
        Klaviyo: the request carries the bearer token)."""
        base = self._config.base_url.rstrip("/")
        if path.startswith(("https://", "http://")):
            if not path.startswith(base + "/"):
                raise ValueError(f"Refusing to send a request outside {base}.")
            return path
        return f"{base}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str = "",
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool = True,
    ) -> JSONDict | None:
        """Send one API call with the retries it deserves; the JSON document, or None for a
        204 or an empty body (a subscribe job's 202).

        Every attempt is first paced under `operation`'s budget. `idempotent=False` retries
        only what cannot have reached Klaviyo (connect timeouts, 408s and 429s), so a replay
        never repeats a side effect. A request Klaviyo refuses as it stands is never sent
        again: `KlaviyoRequestRejected`.
        """
        url = self.url(path)
        log_path = urlsplit(url).path
        token = self._tokens.access_token()
        refreshed = False
        retries = 0
        while True:
            self._pace(operation, log_path)
            started = time.monotonic()
            try:
                response = _session().request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=self._headers(token, with_body=json is not None),
                    timeout=self._config.timeout,
                    # A redirect would carry the bearer token to wherever it points.
                    allow_redirects=False,
                )
            except (
                requests.Timeout,
                requests.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                self._log(method, log_path, None, started)
                failure = KlaviyoUnavailable(detail=self._transport_detail(exc, log_path))
                unsent = isinstance(exc, requests.ConnectTimeout)
                wait = self._backoff(retries)
                if not (idempotent or unsent) or not self._may_retry(retries, wait):
                    raise failure from exc
                self._sleep(wait)
                retries += 1
                continue

            status = response.status_code
            retry_after = retry_after_seconds(response.headers)
            self._log(method, log_path, status, started, retry_after)

            if status == 401 and not refreshed:
                # RFC 6750 section 3.1 invalid_token: the token expired or was revoked early.
                # One refresh and one retry; a second 401 is final.
                token = self._tokens.refreshed_access_token(rejected=token)
                refreshed = True
                continue
            if status == 429:
                wait = retry_after if retry_after is not None else self._backoff(retries)
                if not self._may_retry(retries, wait):
                    raise self._error(response, token=token, retry_after=wait)
                self._sleep(wait)
                retries += 1
                continue
            if status in RETRYABLE_STATUSES or status == REQUEST_TIMEOUT or _is_challenge(response):
                wait = retry_after if retry_after is not None else self._backoff(retries)
                replayable = idempotent or status == REQUEST_TIMEOUT
                if not replayable or not self._may_retry(retries, wait):
                    raise self._error(response, token=token)
                self._sleep(wait)
                retries += 1
                continue
            if status >= 300:
                raise self._error(response, token=token)
            return _document(response)

    def _pace(self, operation: str, path: str) -> None:
        """Wait until the account's budget for `operation` has room for one more call: inline
        while the wait is short, else raise `KlaviyoRateLimited` (nothing was sent) so the
        caller reschedules the work for when the window opens."""
        if self._budget is None or not operation:
            return
        waited = 0.0
        while wait := self._budget.acquire(operation, self._account_id):
            if waited + wait > self._config.max_retry_wait:
                logger.info(
                    "klaviyo paced %s %s retry_after=%.1f",
                    operation,
                    path,
                    wait,
                    extra={"http_path": path, "retry_after": wait},
                )
                raise KlaviyoRateLimited(
                    retry_after=wait,
                    status=None,
                    code="budget_spent",
                    detail=(
                        f"This account's Klaviyo rate limit for {operation} is used up; "
                        f"it opens again in {math.ceil(wait)} s."
                    ),
                )
            self._sleep(wait)
            waited += wait

    def _headers(self, token: str, *, with_body: bool) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {token}",
            "revision": self._config.revision,
            "Accept": JSON_API,
        }
        if with_body:
            headers["Content-Type"] = JSON_API
        return headers

    def _backoff(self, retries: int) -> float:
        """The project's one backoff, jittered so concurrent workers do not retry in
        lockstep, capped at the longest wait we accept."""
        return backoff_delay(
            retries, first=_BACKOFF_BASE, cap=self._config.max_retry_wait, jitter=True
        )

    def _may_retry(self, retries: int, wait: float) -> bool:
        return retries < self._config.max_retries and wait <= self._config.max_retry_wait

    def _transport_detail(self, exc: requests.RequestException, path: str) -> str:
        # Named by class only: requests' messages can include the full URL and its query.
        if isinstance(exc, requests.Timeout):
            return f"{path} timed out after {self._config.timeout:g}s"
        return f"{path} unreachable ({type(exc).__name__})"

    def _error(
        self, response: requests.Response, *, token: str, retry_after: float | None = None
    ) -> KlaviyoError:
        """The exception for a failed response, from the first JSON:API error object (or,
        for an answer that is not Klaviyo's JSON, from its status alone)."""
        status = response.status_code
        body = _json(response)
        errors = body.get("errors") if body else None
        first = as_mapping(errors[0] if isinstance(errors, list) and errors else None)
        source, meta = as_mapping(first.get("source")), as_mapping(first.get("meta"))
        detail = first.get("detail") or first.get("title") or (None if body else _phrase(status))
        fields: dict[str, Any] = {
            "status": status,
            "code": first.get("code"),
            "detail": redact(detail, (token,)),
            "pointer": source.get("pointer") or source.get("parameter"),
        }
        if status == 429:
            return KlaviyoRateLimited(retry_after=retry_after or 0.0, **fields)
        if status == 401 and body is not None:
            return KlaviyoAuthError(**fields)
        if 400 <= status < 500 and status not in (401, REQUEST_TIMEOUT, 429):
            if _is_challenge(response):
                # Cloudflare's challenge page: an outage, not a permission.
                return KlaviyoUnavailable(**fields)
            return _rejection(status, fields, duplicate_profile_id=meta.get("duplicate_profile_id"))
        if status >= 400 or body is None:
            return KlaviyoUnavailable(**fields)
        return KlaviyoError(**fields)

    def _log(
        self,
        method: str,
        path: str,
        status: int | None,
        started: float,
        retry_after: float | None = None,
    ) -> None:
        duration_ms = round((time.monotonic() - started) * 1000)
        level = logging.DEBUG if status is not None and status < 400 else logging.INFO
        logger.log(
            level,
            "klaviyo %s %s status=%s duration_ms=%d retry_after=%s",
            method,
            path,
            status,
            duration_ms,
            retry_after,
            extra={
                "http_method": method,
                "http_path": path,
                "http_status": status,
                "duration_ms": duration_ms,
                "retry_after": retry_after,
            },
        )


def _rejection(
    status: int, fields: dict[str, Any], *, duplicate_profile_id: str | None
) -> KlaviyoRequestRejected:
    """A 4xx that sending the request again cannot fix, by status."""
    if status == 400:
        return KlaviyoValidationError(**fields)
    if status == 403:
        return KlaviyoPermissionDenied(**fields)
    if status == 404:
        return KlaviyoNotFound(**fields)
    if status == 409:
        return KlaviyoConflict(duplicate_profile_id=duplicate_profile_id, **fields)
    return KlaviyoRequestRejected(**fields)


def _phrase(status: int) -> str | None:
    """HTTP's name for a status ("Request-URI Too Long"), for answers without Klaviyo's words."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


def _json(response: requests.Response) -> JSONDict | None:
    if not response.content:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _is_challenge(response: requests.Response) -> bool:
    """A 403 that is an HTML page (Cloudflare's challenge), not Klaviyo's JSON:API error."""
    return response.status_code == 403 and _json(response) is None


def _document(response: requests.Response) -> JSONDict | None:
    # A subscribe job is a 202 with no body; a bulk import job is a 202 with the job.
    if response.status_code == 204 or not response.content:
        return None
    body = _json(response)
    if body is None:
        raise KlaviyoUnavailable(
            status=response.status_code, detail="Klaviyo returned a response that is not JSON."
        )
    return body
