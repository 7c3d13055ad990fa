"""The JSON:API documents the client sends, per Klaviyo's 2026-07-15 OpenAPI spec.

Plain functions, so each body can be checked against the spec on its own; `KlaviyoClient`
sends them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from integrations.klaviyo.filters import compare

JSONDict = dict[str, Any]

# Klaviyo's documented limits (the 2026-07-15 spec states them in the operation descriptions,
# not as maxItems): "Maximum number of profiles can be submitted for subscription: 1000", the
# bulk import job "Accepts up to 10,000 profiles per request", and removing profiles from a
# list "accepts a maximum of 1000 profiles per call".
MAX_SUBSCRIBE_BATCH = 1000
MAX_BULK_IMPORT_BATCH = 10_000
MAX_LIST_REMOVAL_BATCH = 1000


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
    *,
    list_id: str | None,
    emails_with_consent: Sequence[str | Mapping[str, Any]],
    custom_source: str,
) -> JSONDict:
    """`SubscriptionCreateJobCreateQuery`: email marketing consent `SUBSCRIBED` for each
    profile, and membership of the list (None: consent only, in no list; the spec's
    `relationships.list` is optional).

    Each item is an email, or a mapping with `email` and optionally the Klaviyo profile `id`.
    Call this only for people who gave consent: the list's opt-in process (single or double;
    without a list, the account's default) then applies. `historical_import` is left out
    (false), so double opt-in is honoured.
    """
    if not emails_with_consent:
        raise ValueError("A subscribe job needs at least one profile.")
    if len(emails_with_consent) > MAX_SUBSCRIBE_BATCH:
        raise ValueError(
            f"A subscribe job takes at most {MAX_SUBSCRIBE_BATCH} profiles, "
            f"got {len(emails_with_consent)}."
        )
    data: JSONDict = {
        "type": "profile-subscription-bulk-create-job",
        "attributes": {
            "custom_source": custom_source,
            "profiles": {"data": [_subscription(item) for item in emails_with_consent]},
        },
    }
    if list_id is not None:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def list_removal_body(*, profile_ids: Sequence[str]) -> JSONDict:
    """`ListMembersDeleteQuery`: the profiles (by Klaviyo id: the endpoint takes no emails)
    to take out of one list, at most 1,000."""
    if not profile_ids:
        raise ValueError("A list removal needs at least one profile.")
    if len(profile_ids) > MAX_LIST_REMOVAL_BATCH:
        raise ValueError(
            f"A list removal takes at most {MAX_LIST_REMOVAL_BATCH} profiles, "
            f"got {len(profile_ids)}."
        )
    if not all(profile_ids):
        raise ValueError("Every profile to remove needs its Klaviyo id.")
    return {"data": [{"type": "profile", "id": profile_id} for profile_id in profile_ids]}


def profile_deletion_body(*, email: str) -> JSONDict:
    """`DataPrivacyCreateDeletionJobQuery`: delete the profiles with this email. The email is
    the only identifier sent: "If multiple identifiers are provided, we will return an error."
    """
    if not email:
        raise ValueError("A profile deletion needs the profile's email.")
    return {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {
                "profile": {"data": {"type": "profile", "attributes": {"email": email}}}
            },
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


# --- Events -----------------------------------------------------------------------------------

# "up to 1,000 events per request" (`bulk_create_events`' description; no maxItems).
MAX_BULK_EVENTS = 1000
# The values Klaviyo's flow filters and template tags read best, and all Partyline sends.
_FLAT = (str, int, float, bool)


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """One event for one profile, identified by email: `metric` is the metric's name (the
    first event of a name creates it), `properties` the event's own (flat: strings, numbers,
    booleans), `profile_properties` custom profile properties upserted with it. `unique_id`
    is what makes a resend harmless: Klaviyo records one event per profile, metric and
    unique_id."""

    metric: str
    email: str
    properties: Mapping[str, Any]
    time: datetime
    unique_id: str
    first_name: str = ""
    last_name: str = ""
    profile_properties: Mapping[str, Any] = field(default_factory=dict)
    value: float | None = None


def create_event_body(*, event: OutgoingEvent) -> JSONDict:
    """`EventCreateQueryV2`: one event with its profile."""
    attributes = {**_event_attributes(event), "profile": {"data": _event_profile(event)}}
    return {"data": {"type": "event", "attributes": attributes}}


def bulk_create_events_body(*, events: Sequence[OutgoingEvent]) -> JSONDict:
    """`EventsBulkCreateJob`: up to 1,000 events, grouped per profile (same email and profile
    attributes), in the order given.

    A repeated `unique_id` fails Klaviyo's whole request ("the request will fail and no events
    will be processed"), so it is refused here, before anything is sent.
    """
    if not events:
        raise ValueError("A bulk event create needs at least one event.")
    if len(events) > MAX_BULK_EVENTS:
        raise ValueError(
            f"A bulk event create takes at most {MAX_BULK_EVENTS} events, got {len(events)}."
        )
    seen: set[str] = set()
    for event in events:
        if event.unique_id in seen:
            raise ValueError(
                f"unique_id {event.unique_id!r} appears twice in one bulk event create: "
                "Klaviyo would fail the whole request."
            )
        seen.add(event.unique_id)
    return {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {
                "events-bulk-create": {
                    "data": [
                        {
                            "type": "event-bulk-create",
                            "attributes": {
                                "profile": {"data": profile},
                                "events": {
                                    "data": [
                                        {
                                            "type": "event",
                                            "attributes": _event_attributes(events[index]),
                                        }
                                        for index in indexes
                                    ]
                                },
                            },
                        }
                        for profile, indexes in _event_groups(events)
                    ]
                }
            },
        }
    }


# Where Klaviyo points in a refused bulk event create: the profile group and the event in it.
BULK_EVENT_POINTER = re.compile(r"/events-bulk-create/data/(\d+)/attributes/events/data/(\d+)")


def bulk_event_index(pointer: str | None, events: Sequence[OutgoingEvent]) -> int | None:
    """Which of `events` (as sent to `bulk_create_events_body`) a refusal's pointer names;
    None when it names no single event."""
    match = BULK_EVENT_POINTER.search(pointer or "")
    if match is None:
        return None
    group, number = int(match.group(1)), int(match.group(2))
    groups = _event_groups(events)
    if group >= len(groups) or number >= len(groups[group][1]):
        return None
    return groups[group][1][number]


def _event_groups(events: Sequence[OutgoingEvent]) -> list[tuple[JSONDict, list[int]]]:
    """The events grouped per profile (same email and profile attributes), in first-seen
    order: each profile with the indexes of its events."""
    groups: dict[str, tuple[JSONDict, list[int]]] = {}
    for index, event in enumerate(events):
        profile = _event_profile(event)
        key = json.dumps(profile, sort_keys=True, default=str)
        groups.setdefault(key, (profile, []))[1].append(index)
    return list(groups.values())


def _event_attributes(event: OutgoingEvent) -> JSONDict:
    if not event.metric:
        raise ValueError("Every event needs a metric name.")
    if not event.unique_id:
        raise ValueError("Every event needs a unique_id, or a resend could record it twice.")
    if event.time.tzinfo is None:
        raise ValueError("An event's time needs a time zone.")
    nested = sorted(key for key, value in event.properties.items() if not isinstance(value, _FLAT))
    if nested:
        raise ValueError(f"Event properties must be strings, numbers or booleans: {nested}")
    attributes: JSONDict = {
        "properties": dict(event.properties),
        "metric": {"data": {"type": "metric", "attributes": {"name": event.metric}}},
        "time": event.time.isoformat(),
        "unique_id": event.unique_id,
    }
    if event.value is not None:
        attributes["value"] = event.value
    return attributes


def _event_profile(event: OutgoingEvent) -> JSONDict:
    if not event.email:
        raise ValueError("Every event needs its profile's email.")
    attributes: JSONDict = {"email": event.email}
    if event.first_name:
        attributes["first_name"] = event.first_name
    if event.last_name:
        attributes["last_name"] = event.last_name
    if event.profile_properties:
        attributes["properties"] = dict(event.profile_properties)
    return {"type": "profile", "attributes": attributes}


def metric_count_body(*, metric_id: str, since: datetime, until: datetime) -> JSONDict:
    """`MetricAggregateQuery`: how many events of the metric happened in [since, until),
    counted in whole days of UTC (the range, not the buckets, bounds the count)."""
    return {
        "data": {
            "type": "metric-aggregate",
            "attributes": {
                "metric_id": metric_id,
                "measurements": ["count"],
                "interval": "day",
                "filter": [
                    compare("greater-or-equal", "datetime", since),
                    compare("less-than", "datetime", until),
                ],
                "timezone": "UTC",
            },
        }
    }
