"""The Klaviyo REST client: one `_request` that every operation goes through.

It paces each call under the account's rate-limit budget (`ratelimits.RateBudget`), adds the
bearer token and `revision` header, refreshes once on a 401, waits out 429s and backs off on
5xx and timeouts (within `KlaviyoConfig` bounds), maps every other failure to
`integrations.klaviyo.errors`, and writes one log line per response: method, path, status,
duration and retry-after, never headers, tokens, query strings or bodies.

Request bodies are built by plain functions (`create_list_body`, `bulk_import_body`,
`subscribe_body`, ...) so they can be checked against Klaviyo's OpenAPI spec on their own.
"""

from __future__ import annotations

import http.cookiejar
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests

from integrations.klaviyo.config import KlaviyoConfig, klaviyo_config
from integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoConflict,
    KlaviyoError,
    KlaviyoNotFound,
    KlaviyoPermissionDenied,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
    KlaviyoValidationError,
    redact,
    retry_after_seconds,
)
from integrations.klaviyo.ratelimits import RateBudget

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]

JSON_API = "application/vnd.api+json"
# Klaviyo's documented limits (the 2026-07-15 spec states them in the operation descriptions,
# not as maxItems): "Maximum number of profiles can be submitted for subscription: 1000" and
# the bulk import job "Accepts up to 10,000 profiles per request".
MAX_SUBSCRIBE_BATCH = 1000
MAX_BULK_IMPORT_BATCH = 10_000
# `page[size]` maximum for profiles and list members.
MAX_PAGE_SIZE = 100
# Worth another try: server errors, including Cloudflare's 524 origin timeout (which
# Klaviyo's own SDK retries too).
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504, 524})
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


# --- Request bodies (JSON:API documents, per the 2026-07-15 OpenAPI spec) ------------------------


def create_list_body(*, name: str, opt_in_process: str | None = None) -> JSONDict:
    """`ListCreateQuery`; without `opt_in_process` the account's default opt-in applies."""
    attributes: JSONDict = {"name": name}
    if opt_in_process is not None:
        attributes["opt_in_process"] = opt_in_process
    return {"data": {"type": "list", "attributes": attributes}}


def update_list_body(*, list_id: str, name: str) -> JSONDict:
    """`ListPartialUpdateQuery` (`type`, `id` and `attributes` are all required)."""
    return {"data": {"type": "list", "id": list_id, "attributes": {"name": name}}}


def profile_import_body(*, attributes: Mapping[str, Any]) -> JSONDict:
    """`ProfileUpsertQuery`: a None attribute clears that field, an absent one leaves it."""
    return {"data": {"type": "profile", "attributes": dict(attributes)}}


def bulk_import_body(
    *, profiles: Sequence[Mapping[str, Any]], list_id: str | None = None
) -> JSONDict:
    """`ProfileImportJobCreateQuery`: profile attributes (email, first_name, last_name,
    properties, ...) upserted in one job, optionally added to a list."""
    if not profiles:
        raise ValueError("A bulk import needs at least one profile.")
    if len(profiles) > MAX_BULK_IMPORT_BATCH:
        raise ValueError(
            f"A bulk import takes at most {MAX_BULK_IMPORT_BATCH} profiles, got {len(profiles)}."
        )
    data: JSONDict = {
        "type": "profile-bulk-import-job",
        "attributes": {
            "profiles": {
                "data": [{"type": "profile", "attributes": dict(item)} for item in profiles]
            }
        },
    }
    if list_id is not None:
        data["relationships"] = {"lists": {"data": [{"type": "list", "id": list_id}]}}
    return {"data": data}


def subscribe_body(
    *, list_id: str, emails_with_consent: Sequence[str | Mapping[str, Any]], custom_source: str
) -> JSONDict:
    """`SubscriptionCreateJobCreateQuery`: email marketing consent `SUBSCRIBED` for each
    profile, and membership of the list.

    Each item is an email, or a mapping with `email` and optionally the Klaviyo profile `id`.
    Call this only for people who gave consent: the list's opt-in process (single or double)
    then applies. `historical_import` is left out (false), so double opt-in is honoured.
    """
    if not emails_with_consent:
        raise ValueError("A subscribe job needs at least one profile.")
    if len(emails_with_consent) > MAX_SUBSCRIBE_BATCH:
        raise ValueError(
            f"A subscribe job takes at most {MAX_SUBSCRIBE_BATCH} profiles, "
            f"got {len(emails_with_consent)}."
        )
    return {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "custom_source": custom_source,
                "profiles": {"data": [_subscription(item) for item in emails_with_consent]},
            },
            "relationships": {"list": {"data": {"type": "list", "id": list_id}}},
        }
    }


def _subscription(item: str | Mapping[str, Any]) -> JSONDict:
    if isinstance(item, str):
        email, profile_id = item, None
    else:
        unknown = set(item) - {"email", "id"}
        if unknown:
            raise ValueError(f"Unexpected subscription keys: {sorted(unknown)}")
        email, profile_id = item.get("email"), item.get("id")
    if not email:
        raise ValueError("Every subscription needs an email.")
    profile: JSONDict = {
        "type": "profile",
        "attributes": {
            "email": email,
            "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}},
        },
    }
    if profile_id:
        profile["id"] = profile_id
    return profile


def _quoted(value: str) -> str:
    """A filter string literal with backslashes and double quotes escaped, so a value cannot
    close the string and add filter clauses of its own."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def email_filter(email: str) -> str:
    """`equals(email,"...")`."""
    return f"equals(email,{_quoted(email)})"


def emails_filter(emails: Sequence[str]) -> str:
    """`any(email,["...","..."])`."""
    if not emails:
        raise ValueError("An email filter needs at least one address.")
    return f"any(email,[{','.join(_quoted(email) for email in emails)}])"


def _segment(value: str) -> str:
    # Ids come from Klaviyo, but quoting keeps a stray "/" or "?" from changing the endpoint.
    return quote(value, safe="")


# --- The client ------------------------------------------------------------------------------


class KlaviyoClient:
    """The REST API of one connected Klaviyo account; cheap to build, safe to share."""

    def __init__(
        self,
        *,
        token_source: TokenSource,
        config: KlaviyoConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
        budget: RateBudget | None = None,
        account_id: str = "",
    ) -> None:
        """`budget` paces every call to the Klaviyo account `account_id` (without both, only
        Klaviyo's 429s pace the client: the one call made before the account is known)."""
        self._tokens = token_source
        self._config = config or klaviyo_config()
        self._sleep = sleep
        self._budget = budget if account_id else None
        self._account_id = account_id

    # Accounts ---------------------------------------------------------------------------------

    def get_account(self) -> JSONDict:
        """The connected account (`GET /api/accounts/` holds exactly one)."""
        document = self._request("GET", "/api/accounts/", operation="get_accounts") or {}
        accounts = document.get("data")
        if not isinstance(accounts, list) or not accounts:
            raise KlaviyoNotFound(status=200, detail="Klaviyo returned no account.")
        return accounts[0]

    # Lists ------------------------------------------------------------------------------------

    def create_list(self, *, name: str, opt_in_process: str | None = None) -> JSONDict:
        """Create a list. Not retried once it may have reached Klaviyo: a replay could create a
        second list against a 150-per-day cap; the caller can look the name up instead."""
        return _resource(
            self._request(
                "POST",
                "/api/lists/",
                operation="create_list",
                json=create_list_body(name=name, opt_in_process=opt_in_process),
                idempotent=False,
            )
        )

    def find_lists(self, *, name: str) -> list[JSONDict]:
        """The lists named exactly `name` (a create whose answer was lost may have made one)."""
        name_filter = f"equals(name,{_quoted(name)})"
        return list(
            self.paginate("/api/lists/", operation="get_lists", params={"filter": name_filter})
        )

    def get_list(self, *, list_id: str) -> JSONDict:
        return _resource(
            self._request("GET", f"/api/lists/{_segment(list_id)}/", operation="get_list")
        )

    def update_list(self, *, list_id: str, name: str) -> JSONDict:
        return _resource(
            self._request(
                "PATCH",
                f"/api/lists/{_segment(list_id)}/",
                operation="update_list",
                json=update_list_body(list_id=list_id, name=name),
            )
        )

    def delete_list(self, *, list_id: str) -> None:
        self._request("DELETE", f"/api/lists/{_segment(list_id)}/", operation="delete_list")

    def iter_list_profiles(
        self, *, list_id: str, page_size: int = MAX_PAGE_SIZE, fields: list[str] | None = None
    ) -> Iterator[JSONDict]:
        """Every member of a list, page by page (each item also has `joined_group_at`)."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}.")
        params: JSONDict = {"page[size]": page_size}
        if fields:
            params["fields[profile]"] = ",".join(fields)
        return self.paginate(
            f"/api/lists/{_segment(list_id)}/profiles/",
            operation="get_profiles_for_list",
            params=params,
        )

    def list_members_among(self, *, list_id: str, emails: Sequence[str]) -> list[JSONDict]:
        """Which of up to 100 `emails` are members of the list: one read call (each item's
        attributes hold `email` and `joined_group_at`)."""
        _check_page_of_emails(emails)
        document = self._request(
            "GET",
            f"/api/lists/{_segment(list_id)}/profiles/",
            operation="get_profiles_for_list",
            params={
                "filter": emails_filter(emails),
                "fields[profile]": "email,joined_group_at",
                "page[size]": MAX_PAGE_SIZE,
            },
        )
        return list((document or {}).get("data") or [])

    # Profiles ---------------------------------------------------------------------------------

    def profiles_with_consent(self, *, emails: Sequence[str]) -> list[JSONDict]:
        """The profiles of up to 100 `emails` with their `subscriptions` (consent and
        suppression): one read call. Addresses Klaviyo has no profile for are absent."""
        _check_page_of_emails(emails)
        document = self._request(
            "GET",
            "/api/profiles/",
            operation="get_profiles",
            params={
                "filter": emails_filter(emails),
                "fields[profile]": "email,subscriptions",
                "additional-fields[profile]": "subscriptions",
                "page[size]": MAX_PAGE_SIZE,
            },
        )
        return list((document or {}).get("data") or [])

    def get_profile_by_email(self, *, email: str) -> JSONDict | None:
        document = self._request(
            "GET",
            "/api/profiles/",
            operation="get_profiles",
            params={"filter": email_filter(email), "page[size]": 1},
        )
        profiles = (document or {}).get("data") or []
        return profiles[0] if profiles else None

    def create_or_update_profile(self, *, attributes: Mapping[str, Any]) -> JSONDict:
        """Upsert one profile by its identifiers (201 created, 200 updated)."""
        return _resource(
            self._request(
                "POST",
                "/api/profile-import/",
                operation="create_or_update_profile",
                json=profile_import_body(attributes=attributes),
            )
        )

    def bulk_import_profiles(
        self, *, profiles: Sequence[Mapping[str, Any]], list_id: str | None = None
    ) -> str:
        """Start a bulk import job; returns its id (Klaviyo processes it asynchronously)."""
        body = bulk_import_body(profiles=profiles, list_id=list_id)
        job = _resource(
            self._request(
                "POST",
                "/api/profile-bulk-import-jobs/",
                operation="bulk_import_profiles",
                json=body,
            )
        )
        return str(job["id"])

    def get_bulk_import_job(self, *, job_id: str) -> JSONDict:
        """The job's `status`, `total_count`, `completed_count`, `failed_count`, ..."""
        return _resource(
            self._request(
                "GET",
                f"/api/profile-bulk-import-jobs/{_segment(job_id)}/",
                operation="get_bulk_import_profiles_job",
            )
        )

    def iter_import_errors(self, *, job_id: str) -> Iterator[JSONDict]:
        """The profiles a bulk import job rejected, 100 a page (`code`, `title`, `detail`,
        `source.pointer` and the `original_payload` that was sent)."""
        return self.paginate(
            f"/api/profile-bulk-import-jobs/{_segment(job_id)}/import-errors/",
            operation="get_errors_for_bulk_import_profiles_job",
            params={"page[size]": MAX_PAGE_SIZE},
        )

    def subscribe_profiles(
        self,
        *,
        list_id: str,
        emails_with_consent: Sequence[str | Mapping[str, Any]],
        custom_source: str,
    ) -> None:
        """Subscribe up to 1,000 consenting profiles to email marketing and the list.

        Klaviyo answers 202 with no body and applies it asynchronously.
        """
        body = subscribe_body(
            list_id=list_id, emails_with_consent=emails_with_consent, custom_source=custom_source
        )
        self._request(
            "POST",
            "/api/profile-subscription-bulk-create-jobs/",
            operation="bulk_subscribe_profiles",
            json=body,
        )

    # Pagination -------------------------------------------------------------------------------

    def paginate(
        self, path: str, *, operation: str = "", params: Mapping[str, Any] | None = None
    ) -> Iterator[JSONDict]:
        """Every item of a collection, following `links.next` (an absolute URL carrying the
        cursor and the original query) until it is null. Each page is one call of
        `operation` (Klaviyo's operationId, for pacing)."""
        url: str | None = path
        page_params = params
        seen: set[str] = set()
        while url:
            seen.add(url)
            document = self._request("GET", url, operation=operation, params=page_params) or {}
            yield from document.get("data") or []
            url = (document.get("links") or {}).get("next")
            if url in seen:
                raise KlaviyoError(detail="Pagination returned a page already read.")
            page_params = None

    # The one door -----------------------------------------------------------------------------

    def _request(
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
        only what cannot have reached Klaviyo (connect timeouts and 429s), so a replay never
        repeats a side effect.
        """
        url = self._url(path)
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
            if status in RETRYABLE_STATUSES or _is_challenge(response):
                wait = retry_after if retry_after is not None else self._backoff(retries)
                if not idempotent or not self._may_retry(retries, wait):
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

    def _url(self, path: str) -> str:
        base = self._config.base_url.rstrip("/")
        if path.startswith(("https://", "http://")):
            # Only ever follow links back to Klaviyo: the request carries the bearer token.
            if not path.startswith(base + "/"):
                raise ValueError(f"Refusing to send a request outside {base}.")
            return path
        return f"{base}/{path.lstrip('/')}"

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
        """Exponential backoff with jitter (half fixed, half random), capped at the longest
        wait we accept, so concurrent workers do not retry in lockstep."""
        delay = min(self._config.max_retry_wait, _BACKOFF_BASE * 2**retries)
        # Jitter needs no cryptographic randomness.
        return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311

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
        """The exception for a failed response, from the first JSON:API error object."""
        status = response.status_code
        body = _json(response)
        errors = body.get("errors") if body else None
        first = errors[0] if isinstance(errors, list) and errors else {}
        first = first if isinstance(first, dict) else {}
        source = first.get("source") if isinstance(first.get("source"), dict) else {}
        meta = first.get("meta") if isinstance(first.get("meta"), dict) else {}
        fields: JSONDict = {
            "status": status,
            "code": first.get("code"),
            "detail": redact(first.get("detail") or first.get("title"), (token,)),
            "pointer": source.get("pointer") or source.get("parameter"),
        }
        if status == 429:
            return KlaviyoRateLimited(retry_after=retry_after or 0.0, **fields)
        if status >= 500 or body is None:
            # Includes a 403 HTML page (a Cloudflare challenge): an outage, not a permission.
            return KlaviyoUnavailable(**fields)
        if status == 400:
            return KlaviyoValidationError(**fields)
        if status == 401:
            return KlaviyoAuthError(**fields)
        if status == 403:
            return KlaviyoPermissionDenied(**fields)
        if status == 404:
            return KlaviyoNotFound(**fields)
        if status == 409:
            return KlaviyoConflict(duplicate_profile_id=meta.get("duplicate_profile_id"), **fields)
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


def _check_page_of_emails(emails: Sequence[str]) -> None:
    if not 1 <= len(emails) <= MAX_PAGE_SIZE:
        raise ValueError(f"Ask about 1 to {MAX_PAGE_SIZE} addresses at a time, not {len(emails)}.")


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


def _resource(document: JSONDict | None) -> JSONDict:
    data = (document or {}).get("data")
    if not isinstance(data, dict):
        raise KlaviyoUnavailable(detail="Klaviyo returned a response without data.")
    return data
