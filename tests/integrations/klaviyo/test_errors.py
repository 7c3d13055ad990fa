"""The exception hierarchy: what callers branch on and what `str()` may show."""

from __future__ import annotations

import pytest

from integrations.klaviyo.errors import (
    KlaviyoConflict,
    KlaviyoError,
    KlaviyoInvalidClient,
    KlaviyoInvalidGrant,
    KlaviyoOAuthError,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
    redact,
    retry_after_seconds,
)


def test_message_is_built_from_status_code_detail_and_pointer_only():
    error = KlaviyoError(status=400, code="invalid", detail="Bad.", pointer="/data/attributes")

    assert str(error) == "HTTP 400 invalid: Bad. (at /data/attributes)"
    assert repr(error) == "KlaviyoError('HTTP 400 invalid: Bad. (at /data/attributes)')"


def test_rate_limited_says_when_to_retry():
    error = KlaviyoRateLimited(retry_after=12.0, code="throttled")

    assert error.status == 429
    assert str(error) == "HTTP 429 throttled (retry after 12s)"


def test_conflict_defaults_to_409_and_keeps_the_duplicate_id():
    error = KlaviyoConflict(duplicate_profile_id="01GDD", code="duplicate_profile")

    assert (error.status, error.duplicate_profile_id) == (409, "01GDD")


def test_oauth_errors_share_one_base_and_the_klaviyo_root():
    for cls in (KlaviyoInvalidGrant, KlaviyoInvalidClient):
        assert issubclass(cls, KlaviyoOAuthError)
    assert issubclass(KlaviyoOAuthError, KlaviyoError)
    assert not issubclass(KlaviyoRateLimited, KlaviyoOAuthError)
    assert not issubclass(KlaviyoUnavailable, KlaviyoOAuthError)


def test_oauth_error_carries_the_rfc_fields():
    error = KlaviyoInvalidGrant(error="invalid_grant", error_description="Gone.", status=400)

    assert (error.error, error.error_description, error.code) == (
        "invalid_grant",
        "Gone.",
        "invalid_grant",
    )
    assert str(error) == "HTTP 400 invalid_grant: Gone."


def test_redact_replaces_secrets_and_caps_length():
    assert redact("token abc123 was bad", ["abc123", None, ""]) == "token [redacted] was bad"
    assert len(redact("x" * 5000) or "") == 503


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), (" 10 ", 10.0), ("0", 0.0), ("-5", 0.0), ("soon", None), ("inf", None)],
)
def test_retry_after_is_read_as_seconds(header, seconds):
    assert retry_after_seconds({"Retry-After": header}) == seconds


def test_missing_retry_after_is_none():
    assert retry_after_seconds({}) is None
