"""The one door (`transport.Transport.request`, behind every `KlaviyoClient` operation): headers,
timeouts, refresh on 401, retries, error mapping, logging."""

from __future__ import annotations

import json
import logging

import pytest
import requests

from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoConflict,
    KlaviyoNotFound,
    KlaviyoPermissionDenied,
    KlaviyoRateLimited,
    KlaviyoRequestRejected,
    KlaviyoUnavailable,
    KlaviyoValidationError,
)
from integrations.klaviyo.transport import Transport
from tests.support.klaviyo_doubles import (
    ACCESS_TOKEN,
    BASE,
    NEW_ACCESS_TOKEN,
    FakeTokenSource,
    error_document,
)

ACCOUNTS_URL = f"{BASE}/api/accounts/"
LISTS_URL = f"{BASE}/api/lists/"
IMPORT_URL = f"{BASE}/api/profile-bulk-import-jobs/"
ACCOUNT = {"type": "account", "id": "AbC123", "attributes": {"public_api_key": "AbC123"}}
THROTTLED = error_document(429, "throttled", "Request was throttled.")


def accounts_ok(mocked) -> None:
    mocked.get(ACCOUNTS_URL, json={"data": [ACCOUNT], "links": {"self": ACCOUNTS_URL}})


# --- Every request -----------------------------------------------------------------------------


def test_request_sends_bearer_revision_and_json_api_headers(client, mocked):
    accounts_ok(mocked)

    client.get_account()

    headers = mocked.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert headers["revision"] == "2026-07-15"
    assert headers["Accept"] == "application/vnd.api+json"
    assert "Content-Type" not in headers


def test_request_with_a_body_sends_json_api_content_type(client, mocked):
    mocked.post(LISTS_URL, status=201, json={"data": {"type": "list", "id": "L1"}})

    client.create_list(name="Party")

    assert mocked.calls[0].request.headers["Content-Type"] == "application/vnd.api+json"


def test_every_call_has_a_timeout(client, mocked):
    accounts_ok(mocked)
    mocked.post(LISTS_URL, status=201, json={"data": {"type": "list", "id": "L1"}})
    mocked.delete(f"{LISTS_URL}L1/", status=204)
    mocked.get(f"{BASE}/api/profiles/", json={"data": []})
    mocked.post(f"{BASE}/api/profile-subscription-bulk-create-jobs/", status=202)

    client.get_account()
    client.create_list(name="Party")
    client.delete_list(list_id="L1")
    client.profiles_with_consent(emails=["a@example.com"])
    client.subscribe_profiles(
        list_id="L1", emails_with_consent=["a@example.com"], custom_source="x"
    )

    assert [call.request.req_kwargs["timeout"] for call in mocked.calls] == [7.0] * 5


def test_session_is_reused_across_calls_on_a_thread(client, mocked):
    accounts_ok(mocked)
    accounts_ok(mocked)
    seen = []
    original = requests.Session.request

    def spy(session, *args, **kwargs):
        seen.append(session)
        return original(session, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.Session, "request", spy)
        client.get_account()
        client.get_account()

    assert len(seen) == 2
    assert seen[0] is seen[1]


def test_absolute_url_outside_klaviyo_is_refused(tokens, config, mocked):
    transport = Transport(token_source=tokens, config=config)

    with pytest.raises(ValueError, match="outside"):
        transport.request("GET", "https://evil.example/api/accounts/")

    assert len(mocked.calls) == 0


# --- 401: one refresh, one retry ---------------------------------------------------------------


def test_401_refreshes_once_and_retries_with_the_new_token(client, mocked, tokens):
    mocked.get(ACCOUNTS_URL, status=401, json=error_document(401, "authentication_failed", "x"))
    accounts_ok(mocked)

    assert client.get_account().id == "AbC123"

    assert tokens.rejected == [ACCESS_TOKEN]
    assert mocked.calls[1].request.headers["Authorization"] == f"Bearer {NEW_ACCESS_TOKEN}"


def test_second_401_raises_auth_error(client, mocked, tokens):
    rejected = error_document(401, "authentication_failed", "Incorrect authentication credentials.")
    mocked.get(ACCOUNTS_URL, status=401, json=rejected)
    mocked.get(ACCOUNTS_URL, status=401, json=rejected)

    with pytest.raises(KlaviyoAuthError) as caught:
        client.get_account()

    assert caught.value.status == 401
    assert caught.value.code == "authentication_failed"
    assert tokens.rejected == [ACCESS_TOKEN]
    assert len(mocked.calls) == 2


# --- 429: wait Retry-After, within bounds ------------------------------------------------------


def test_retry_after_is_honored_on_429(client, mocked, sleeps):
    mocked.get(ACCOUNTS_URL, status=429, headers={"Retry-After": "3"}, json=THROTTLED)
    mocked.get(ACCOUNTS_URL, status=429, headers={"Retry-After": "1"}, json=THROTTLED)
    accounts_ok(mocked)

    assert client.get_account().id == "AbC123"

    assert sleeps == [3.0, 1.0]


def test_429_longer_than_max_retry_wait_raises_without_sleeping(client, mocked, sleeps):
    mocked.get(ACCOUNTS_URL, status=429, headers={"Retry-After": "45"}, json=THROTTLED)

    with pytest.raises(KlaviyoRateLimited) as caught:
        client.get_account()

    assert caught.value.retry_after == 45.0
    assert caught.value.code == "throttled"
    assert sleeps == []


def test_429_after_retries_are_used_up_raises_rate_limited(client, mocked, sleeps):
    for _ in range(4):
        mocked.get(ACCOUNTS_URL, status=429, headers={"Retry-After": "2"}, json=THROTTLED)

    with pytest.raises(KlaviyoRateLimited) as caught:
        client.get_account()

    assert caught.value.retry_after == 2.0
    assert sleeps == [2.0, 2.0, 2.0]
    assert len(mocked.calls) == 4


def test_429_without_retry_after_backs_off(client, mocked, sleeps):
    mocked.get(ACCOUNTS_URL, status=429, json=THROTTLED)
    accounts_ok(mocked)

    client.get_account()

    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] <= 0.5


def test_429_is_retried_even_for_a_list_create(client, mocked, sleeps):
    # A 429 means Klaviyo did nothing, so even a non-idempotent call may be sent again.
    mocked.post(LISTS_URL, status=429, headers={"Retry-After": "1"}, json=THROTTLED)
    mocked.post(LISTS_URL, status=201, json={"data": {"type": "list", "id": "L1"}})

    assert client.create_list(name="Party").id == "L1"
    assert sleeps == [1.0]


# --- 5xx, timeouts, connection errors: bounded backoff -----------------------------------------


def test_5xx_is_retried_with_backoff_then_unavailable(client, mocked, sleeps):
    for status in (500, 502, 503, 524):
        mocked.get(ACCOUNTS_URL, status=status, body="upstream error")

    with pytest.raises(KlaviyoUnavailable) as caught:
        client.get_account()

    assert caught.value.status == 524
    assert len(mocked.calls) == 4  # the first attempt and max_retries=3 retries
    assert len(sleeps) == 3
    # Exponential with jitter: each wait lies in [half, all] of 0.5s, 1s, 2s.
    for attempt, wait in enumerate(sleeps):
        ceiling = 0.5 * 2**attempt
        assert ceiling / 2 <= wait <= ceiling


def test_5xx_then_success_returns_the_result(client, mocked, sleeps):
    mocked.get(ACCOUNTS_URL, status=503)
    accounts_ok(mocked)

    assert client.get_account().id == "AbC123"
    assert len(sleeps) == 1


def test_backoff_never_exceeds_max_retry_wait(tokens, mocked, sleeps, config):
    from dataclasses import replace

    client = KlaviyoClient(
        token_source=tokens,
        config=replace(config, max_retries=6, max_retry_wait=1.5),
        sleep=sleeps.append,
    )
    for _ in range(7):
        mocked.get(ACCOUNTS_URL, status=503)

    with pytest.raises(KlaviyoUnavailable):
        client.get_account()

    assert len(sleeps) == 6
    assert max(sleeps) <= 1.5


def test_timeout_maps_to_unavailable(client, mocked, sleeps):
    for _ in range(4):
        mocked.get(ACCOUNTS_URL, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(KlaviyoUnavailable) as caught:
        client.get_account()

    assert caught.value.status is None
    assert "timed out after 7s" in str(caught.value)
    assert len(sleeps) == 3


def test_connection_error_is_retried(client, mocked, sleeps):
    mocked.get(ACCOUNTS_URL, body=requests.ConnectionError("connection reset"))
    accounts_ok(mocked)

    assert client.get_account().id == "AbC123"
    assert len(sleeps) == 1


def test_list_create_is_not_retried_after_a_read_timeout(client, mocked, sleeps):
    # The request may have created the list; sending it again could create a second one.
    mocked.post(LISTS_URL, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(KlaviyoUnavailable):
        client.create_list(name="Party")

    assert len(mocked.calls) == 1
    assert sleeps == []


def test_list_create_is_not_retried_after_a_5xx(client, mocked, sleeps):
    mocked.post(LISTS_URL, status=502)

    with pytest.raises(KlaviyoUnavailable):
        client.create_list(name="Party")

    assert len(mocked.calls) == 1


def test_list_create_is_retried_after_a_connect_timeout(client, mocked, sleeps):
    # A connect timeout means the request never left: safe to send again.
    mocked.post(LISTS_URL, body=requests.ConnectTimeout("connect timed out"))
    mocked.post(LISTS_URL, status=201, json={"data": {"type": "list", "id": "L1"}})

    assert client.create_list(name="Party").id == "L1"
    assert len(sleeps) == 1


def test_html_403_challenge_is_retried_then_unavailable(client, mocked, sleeps):
    for _ in range(4):
        mocked.get(
            ACCOUNTS_URL,
            status=403,
            body="<html>Just a moment...</html>",
            content_type="text/html",
            headers={"cf-mitigated": "challenge"},
        )

    with pytest.raises(KlaviyoUnavailable) as caught:
        client.get_account()

    assert caught.value.status == 403
    assert len(mocked.calls) == 4


# --- Other 4xx ---------------------------------------------------------------------------------


def test_json_403_is_permission_denied_without_retry(client, mocked, sleeps):
    mocked.get(
        ACCOUNTS_URL,
        status=403,
        json=error_document(403, "permission_denied", "You do not have permission."),
    )

    with pytest.raises(KlaviyoPermissionDenied) as caught:
        client.get_account()

    assert caught.value.code == "permission_denied"
    assert sleeps == []


def test_404_is_not_found(client, mocked):
    mocked.patch(f"{LISTS_URL}nope/", status=404, json=error_document(404, "not_found", "No."))

    with pytest.raises(KlaviyoNotFound):
        client.update_list(list_id="nope", name="Party")


def test_validation_error_carries_pointer(client, mocked):
    mocked.post(
        IMPORT_URL,
        status=400,
        json=error_document(
            400, "invalid", "Invalid email address.", pointer="/data/attributes/email"
        ),
    )

    with pytest.raises(KlaviyoValidationError) as caught:
        client.bulk_import_profiles(profiles=[{"email": "not-an-email"}])

    assert caught.value.status == 400
    assert caught.value.code == "invalid"
    assert caught.value.detail == "Invalid email address."
    assert caught.value.pointer == "/data/attributes/email"
    assert (
        str(caught.value) == "HTTP 400 invalid: Invalid email address. (at /data/attributes/email)"
    )


def test_validation_error_reports_a_query_parameter_as_its_pointer(client, mocked):
    document = error_document(400, "invalid", "Invalid cursor provided.")
    document["errors"][0]["source"] = {"parameter": "page[cursor]"}
    mocked.get(f"{LISTS_URL}L1/profiles/", status=400, json=document)

    with pytest.raises(KlaviyoValidationError) as caught:
        list(client.iter_list_profiles(list_id="L1"))

    assert caught.value.pointer == "page[cursor]"


def test_conflict_carries_duplicate_profile_id(client, mocked):
    mocked.post(
        IMPORT_URL,
        status=409,
        json=error_document(
            409,
            "duplicate_profile",
            "A profile already exists with one of these identifiers.",
            pointer="/data/attributes",
            meta={"duplicate_profile_id": "01GDDKASAP8TKDDA2GRZDSVP4H"},
        ),
    )

    with pytest.raises(KlaviyoConflict) as caught:
        client.bulk_import_profiles(profiles=[{"email": "a@example.com", "phone_number": "+1"}])

    assert caught.value.duplicate_profile_id == "01GDDKASAP8TKDDA2GRZDSVP4H"
    assert caught.value.code == "duplicate_profile"


def test_another_4xx_is_a_rejected_request(client, mocked, sleeps):
    mocked.get(ACCOUNTS_URL, status=405, json=error_document(405, "method_not_allowed", "No."))

    with pytest.raises(KlaviyoRequestRejected) as caught:
        client.get_account()

    assert type(caught.value) is KlaviyoRequestRejected
    assert caught.value.status == 405
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, KlaviyoValidationError),
        (404, KlaviyoNotFound),
        (413, KlaviyoRequestRejected),
        (414, KlaviyoRequestRejected),
        (422, KlaviyoRequestRejected),
    ],
)
def test_a_4xx_page_that_is_not_json_is_a_rejected_request_not_an_outage(
    client, mocked, sleeps, status, kind
):
    # A proxy or server in front of Klaviyo (gunicorn's 414 for a request line over 4,094
    # bytes): sending the same request again can only be refused again.
    mocked.get(
        f"{LISTS_URL}L1/profiles/",
        status=status,
        body="<html><body><h1>Bad Request</h1></body></html>",
        content_type="text/html",
    )

    with pytest.raises(KlaviyoRequestRejected) as caught:
        client.list_members_among(list_id="L1", emails=["a@example.com"])

    assert type(caught.value) is kind
    assert caught.value.status == status
    assert str(caught.value).startswith(f"HTTP {status}: ")
    assert len(mocked.calls) == 1
    assert sleeps == []


def test_a_414_names_what_was_refused(client, mocked):
    mocked.get(f"{LISTS_URL}L1/profiles/", status=414, body="<h1>Bad Request</h1>")

    with pytest.raises(KlaviyoRequestRejected) as caught:
        client.list_members_among(list_id="L1", emails=["a@example.com"])

    # HTTP's name for the status ("Request-URI Too Long"; "URI Too Long" in newer Pythons).
    assert str(caught.value).startswith("HTTP 414: ")
    assert str(caught.value).endswith("URI Too Long")


def test_permission_denied_and_conflicts_are_rejected_requests():
    assert issubclass(KlaviyoPermissionDenied, KlaviyoRequestRejected)
    assert issubclass(KlaviyoConflict, KlaviyoRequestRejected)
    for kind in (KlaviyoAuthError, KlaviyoRateLimited, KlaviyoUnavailable):
        assert not issubclass(kind, KlaviyoRequestRejected)


# --- 408: retried like a timeout ---------------------------------------------------------------


def test_408_is_retried_like_a_timeout(client, mocked, sleeps):
    mocked.get(ACCOUNTS_URL, status=408, body="<html>Request Timeout</html>")
    accounts_ok(mocked)

    assert client.get_account().id == "AbC123"
    assert len(sleeps) == 1


def test_408_is_retried_even_for_a_list_create(client, mocked, sleeps):
    # The server did not act on a request it gave up receiving (RFC 9110 section 15.5.9).
    mocked.post(LISTS_URL, status=408, body="")
    mocked.post(LISTS_URL, status=201, json={"data": {"type": "list", "id": "L1"}})

    assert client.create_list(name="Party").id == "L1"
    assert len(sleeps) == 1


def test_408_after_retries_are_used_up_is_unavailable(client, mocked, sleeps):
    for _ in range(4):
        mocked.get(ACCOUNTS_URL, status=408, body="")

    with pytest.raises(KlaviyoUnavailable) as caught:
        client.get_account()

    assert caught.value.status == 408
    assert len(mocked.calls) == 4


def test_success_that_is_not_json_is_unavailable(client, mocked):
    mocked.get(ACCOUNTS_URL, body="<html>hello</html>", content_type="text/html")

    with pytest.raises(KlaviyoUnavailable):
        client.get_account()


# --- Secrets and logging -----------------------------------------------------------------------


def test_errors_never_contain_tokens(config, mocked, caplog, sleeps):
    tokens = FakeTokenSource()
    client = KlaviyoClient(token_source=tokens, config=config, sleep=sleeps.append)
    echoed = error_document(401, "authentication_failed", f"Bad token {ACCESS_TOKEN}")
    mocked.get(ACCOUNTS_URL, status=401, json=echoed)
    mocked.get(
        ACCOUNTS_URL,
        status=401,
        json=error_document(401, "authentication_failed", f"Bearer {NEW_ACCESS_TOKEN} rejected"),
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(KlaviyoAuthError) as caught:
        client.get_account()

    exposed = f"{caught.value} {caught.value!r} {caught.value.detail} {caplog.text}"
    assert ACCESS_TOKEN not in exposed
    assert NEW_ACCESS_TOKEN not in exposed
    assert "[redacted]" in str(caught.value)


def test_one_log_line_per_response_without_query_headers_or_body(client, mocked, caplog, sleeps):
    mocked.get(f"{BASE}/api/profiles/", status=429, headers={"Retry-After": "2"}, json=THROTTLED)
    mocked.get(f"{BASE}/api/profiles/", json={"data": []})
    caplog.set_level(logging.DEBUG, logger="integrations.klaviyo")

    client.profiles_with_consent(emails=["sarah@example.com"])

    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("klaviyo GET /api/profiles/ status=429 duration_ms=")
    assert lines[0].endswith("retry_after=2.0")
    assert lines[1].startswith("klaviyo GET /api/profiles/ status=200 duration_ms=")
    assert len(lines) == 2
    assert [record.levelno for record in caplog.records] == [logging.INFO, logging.DEBUG]
    assert caplog.records[0].http_status == 429
    for text in ("sarah", "Bearer", ACCESS_TOKEN, "filter"):
        assert text not in caplog.text


def test_request_body_is_sent_as_json(client, mocked):
    mocked.post(LISTS_URL, status=201, json={"data": {"type": "list", "id": "L1"}})

    client.create_list(name="Party")

    assert json.loads(mocked.calls[0].request.body) == {
        "data": {"type": "list", "attributes": {"name": "Party"}}
    }
