"""The JSON:API documents the client sends, per Klaviyo's 2026-07-15 OpenAPI spec.

Plain functions, so each body can be checked against the spec on its own; `KlaviyoClient`
sends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

JSONDict = dict[str, Any]

# Klaviyo's documented limits (the 2026-07-15 spec states them in the operation descriptions,
# not as maxItems): "Maximum number of profiles can be submitted for subscription: 1000" and
# the bulk import job "Accepts up to 10,000 profiles per request".
MAX_SUBSCRIBE_BATCH = 1000
MAX_BULK_IMPORT_BATCH = 10_000


def create_list_body(*, name: str, opt_in_process: str | None = None) -> JSONDict:
    """`ListCreateQuery`; without `opt_in_process` the account's default opt-in applies."""
    attributes: JSONDict = {"name": name}
    if opt_in_process is not None:
        attributes["opt_in_process"] = opt_in_process
    return {"data": {"type": "list", "attributes": attributes}}


def update_list_body(*, list_id: str, name: str) -> JSONDict:
    """`ListPartialUpdateQuery` (`type`, `id` and `attributes` are all required)."""
    return {"data": {"type": "list", "id": list_id, "attributes": {"name": name}}}


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
    email: object
    profile_id: object = None
    if isinstance(item, str):
        email = item
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
