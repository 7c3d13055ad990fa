"""JSON:API documents as Klaviyo writes them: errors, resources, links, cursors and filters.

Resources carry every attribute the spec's response schema lists, with `links.self` and
`relationships`; every link is absolute and built from the request's scheme and host, so a
client that follows `links.next` comes back to the same sandbox, whatever its address.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from klaviyo_sandbox.models import (
    Account,
    Event,
    Flow,
    ImportJob,
    JobStatus,
    KlaviyoList,
    Membership,
    Metric,
    Profile,
)

MEDIA_TYPE = "application/vnd.api+json"

LOCATION_KEYS = (
    "address1",
    "address2",
    "city",
    "country",
    "latitude",
    "longitude",
    "region",
    "zip",
    "timezone",
    "ip",
)


@dataclass
class ApiError(Exception):
    """An error answered as Klaviyo's error document (`status` is a number, as in Klaviyo)."""

    status: int
    code: str
    title: str
    detail: str
    pointer: str | None = None
    parameter: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        source = {"parameter": self.parameter} if self.parameter else {}
        if not source:
            source = {"pointer": self.pointer or "/data/"}
        return {
            "id": str(uuid.uuid4()),
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "source": source,
            "links": {},
            "meta": self.meta,
        }


def invalid(detail: str, *, pointer: str | None = None, parameter: str | None = None) -> ApiError:
    return ApiError(400, "invalid", "Invalid input.", detail, pointer=pointer, parameter=parameter)


def not_found(detail: str = "Not found.", *, pointer: str | None = None) -> ApiError:
    return ApiError(404, "not_found", "Not found.", detail, pointer=pointer)


def document_response(
    body: dict[str, Any] | None, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    if body is None:
        response = HttpResponse(status=status, content_type=MEDIA_TYPE)
    else:
        response = JsonResponse(body, status=status, content_type=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(*errors: ApiError) -> HttpResponse:
    first = errors[0]
    return document_response(
        {"errors": [error.as_dict() for error in errors]}, first.status, first.headers
    )


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 with an explicit +00:00, as Klaviyo writes its timestamps."""
    return value.astimezone(UTC).isoformat() if value else None


def sandbox_root(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("klaviyo_sandbox:root"))


def api_url(request: HttpRequest, path: str) -> str:
    """The absolute URL of an API path (`lists/Y6nRLr/`), at this request's host."""
    return f"{sandbox_root(request)}api/{path}"


def _relationship_links(self_url: str, name: str) -> dict[str, str]:
    return {"self": f"{self_url}relationships/{name}/", "related": f"{self_url}{name}/"}


def _sparse(attributes: dict[str, Any], fields: Iterable[str] | None) -> dict[str, Any]:
    """Apply `fields[<type>]=a,b` (a dotted field keeps its top-level attribute)."""
    if not fields:
        return attributes
    wanted = {name.split(".", 1)[0] for name in fields}
    return {key: value for key, value in attributes.items() if key in wanted}


def account_resource(request: HttpRequest, account: Account) -> dict[str, Any]:
    address = {
        key: account.street_address.get(key)
        for key in ("address1", "address2", "city", "region", "country", "zip")
    }
    return {
        "type": "account",
        "id": account.id,
        "attributes": {
            "test_account": account.test_account,
            "contact_information": {
                "default_sender_name": account.default_sender_name,
                "default_sender_email": account.default_sender_email,
                "website_url": account.website_url or None,
                "organization_name": account.organization_name,
                "street_address": address,
            },
            "industry": account.industry or None,
            "timezone": account.timezone,
            "preferred_currency": account.preferred_currency,
            "public_api_key": account.id,
            "locale": account.locale,
        },
        "links": {"self": api_url(request, f"accounts/{account.id}/")},
    }


def list_resource(
    request: HttpRequest,
    klaviyo_list: KlaviyoList,
    *,
    profile_count: int | None = None,
    fields: Iterable[str] | None = None,
) -> dict[str, Any]:
    self_url = api_url(request, f"lists/{klaviyo_list.id}/")
    attributes: dict[str, Any] = {
        "name": klaviyo_list.name,
        "created": timestamp(klaviyo_list.created),
        "updated": timestamp(klaviyo_list.updated),
        "opt_in_process": klaviyo_list.opt_in_process,
    }
    if profile_count is not None:
        attributes["profile_count"] = profile_count
    return {
        "type": "list",
        "id": klaviyo_list.id,
        "attributes": _sparse(attributes, fields),
        "relationships": {
            name: {"links": _relationship_links(self_url, name)}
            for name in ("profiles", "tags", "flow-triggers")
        },
        "links": {"self": self_url},
    }


def _subscriptions(profile: Profile) -> dict[str, Any]:
    email_subscribed = profile.email_consent == "SUBSCRIBED"
    sms_subscribed = profile.sms_consent == "SUBSCRIBED"
    suppression = (
        [{"reason": profile.email_suppression, "timestamp": timestamp(profile.email_suppressed_at)}]
        if profile.email_suppression
        else []
    )
    return {
        "email": {
            "marketing": {
                "can_receive_email_marketing": (
                    bool(profile.email) and email_subscribed and not suppression
                ),
                "consent": profile.email_consent,
                "consent_timestamp": timestamp(profile.email_consent_timestamp),
                "last_updated": timestamp(profile.email_consent_last_updated),
                "method": profile.email_consent_method,
                "method_detail": profile.email_consent_method_detail or "",
                "custom_method_detail": profile.email_custom_method_detail,
                "double_optin": profile.email_double_optin,
                "suppression": suppression,
                "list_suppressions": [],
            }
        },
        "sms": {
            "marketing": {
                "can_receive_sms_marketing": bool(profile.phone_number) and sms_subscribed,
                "consent": profile.sms_consent,
                "consent_timestamp": timestamp(profile.sms_consent_timestamp),
                "method": "API" if sms_subscribed else None,
                "method_detail": "",
                "last_updated": timestamp(profile.sms_consent_timestamp),
            }
        },
    }


def profile_resource(
    request: HttpRequest,
    profile: Profile,
    *,
    subscriptions: bool = False,
    membership: Membership | None = None,
    fields: Iterable[str] | None = None,
) -> dict[str, Any]:
    self_url = api_url(request, f"profiles/{profile.id}/")
    attributes: dict[str, Any] = {
        "email": profile.email,
        "phone_number": profile.phone_number,
        "external_id": profile.external_id,
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "organization": profile.organization,
        "locale": profile.locale,
        "title": profile.title,
        "image": profile.image,
        "created": timestamp(profile.created),
        "updated": timestamp(profile.updated),
        "last_event_date": timestamp(profile.last_event_date),
        "location": {key: profile.location.get(key) for key in LOCATION_KEYS},
        "properties": profile.properties,
    }
    if membership is not None:
        attributes["joined_group_at"] = timestamp(membership.joined_group_at)
    attributes = _sparse(attributes, fields)
    if subscriptions:
        attributes["subscriptions"] = _subscriptions(profile)
    return {
        "type": "profile",
        "id": profile.id,
        "attributes": attributes,
        "relationships": {
            name: {"links": _relationship_links(self_url, name)} for name in ("lists", "segments")
        },
        "links": {"self": self_url},
    }


def import_job_resource(request: HttpRequest, job: ImportJob, *, at: datetime) -> dict[str, Any]:
    """The job as a poller sees it at `at`: queued, processing, then complete."""
    self_url = api_url(request, f"profile-bulk-import-jobs/{job.id}/")
    status = job.status_at(at)
    started_at = job.started_at
    if started_at is None and status == JobStatus.PROCESSING:
        started_at = job.starts_at
    return {
        "type": "profile-bulk-import-job",
        "id": job.id,
        "attributes": {
            "status": status,
            "created_at": timestamp(job.created_at),
            "total_count": job.total_count,
            "completed_count": job.completed_count,
            "failed_count": job.failed_count,
            "completed_at": timestamp(job.completed_at),
            "expires_at": timestamp(job.expires_at),
            "started_at": timestamp(started_at),
        },
        "relationships": {
            "lists": {
                "data": [{"type": "list", "id": list_id} for list_id in job.list_ids],
                "links": _relationship_links(self_url, "lists"),
            },
            "profiles": {"links": _relationship_links(self_url, "profiles")},
            "import-errors": {"links": {"related": f"{self_url}import-errors/"}},
        },
        "links": {"self": self_url},
    }


def import_error_resource(error: dict[str, Any]) -> dict[str, Any]:
    """One profile an import job rejected, from the record the job kept (bulk_import)."""
    attributes = {
        name: error[name] for name in ("code", "title", "detail", "source", "original_payload")
    }
    return {"type": "import-error", "id": error["id"], "attributes": attributes}


def metric_resource(
    request: HttpRequest,
    metric: Metric,
    *,
    integration: dict[str, Any],
    fields: Iterable[str] | None = None,
) -> dict[str, Any]:
    self_url = api_url(request, f"metrics/{metric.id}/")
    attributes = {
        "name": metric.name,
        "created": timestamp(metric.created),
        "updated": timestamp(metric.updated),
        "integration": integration,
    }
    return {
        "type": "metric",
        "id": metric.id,
        "attributes": _sparse(attributes, fields),
        "relationships": {
            "flow-triggers": {"links": _relationship_links(self_url, "flow-triggers")}
        },
        "links": {"self": self_url},
    }


def metric_aggregate_resource(
    request: HttpRequest,
    *,
    dates: list[datetime],
    rows: list[dict[str, Any]],
    fields: Iterable[str] | None = None,
) -> dict[str, Any]:
    """A query's answer: the buckets' `dates` and, per row, its `dimensions` and one value per
    bucket for each measurement. Klaviyo's `id` is ephemeral: a new one per query."""
    attributes = {"dates": [timestamp(at) for at in dates], "data": rows}
    return {
        "type": "metric-aggregate",
        "id": str(uuid.uuid4()),
        "attributes": _sparse(attributes, fields),
        "links": {"self": api_url(request, "metric-aggregates/")},
    }


def event_resource(
    request: HttpRequest, event: Event, *, fields: Iterable[str] | None = None
) -> dict[str, Any]:
    self_url = api_url(request, f"events/{event.id}/")
    # Klaviyo hands the unique_id (its own, without one sent) and the value back among the
    # properties, as `$event_id` and `$value`.
    properties = {**event.properties, "$event_id": event.unique_id}
    if event.value is not None:
        properties["$value"] = event.value
    attributes = {
        "timestamp": int(event.datetime.timestamp()),
        "event_properties": properties,
        "datetime": timestamp(event.datetime),
        "uuid": event.uuid,
    }
    return {
        "type": "event",
        "id": event.id,
        "attributes": _sparse(attributes, fields),
        "relationships": {
            "profile": {
                "data": {"type": "profile", "id": event.profile_id},
                "links": _relationship_links(self_url, "profile"),
            },
            "metric": {
                "data": {"type": "metric", "id": event.metric_id},
                "links": _relationship_links(self_url, "metric"),
            },
        },
        "links": {"self": self_url},
    }


def flow_resource(
    request: HttpRequest, flow: Flow, *, fields: Iterable[str] | None = None
) -> dict[str, Any]:
    self_url = api_url(request, f"flows/{flow.id}/")
    attributes = {
        "name": flow.name,
        "status": flow.status,
        "archived": False,  # the sandbox deletes nothing it could archive
        "created": timestamp(flow.created),
        "updated": timestamp(flow.updated),
        "trigger_type": flow.trigger_type,
    }
    return {
        "type": "flow",
        "id": flow.id,
        "attributes": _sparse(attributes, fields),
        "relationships": {
            name: {"links": _relationship_links(self_url, name)}
            for name in ("flow-actions", "tags")
        },
        "links": {"self": self_url},
    }


# --- Pagination -------------------------------------------------------------------------


def page_size(request: HttpRequest, *, default: int, maximum: int) -> int:
    raw = request.GET.get("page[size]")
    if raw is None:
        return default
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= maximum:
        raise invalid(
            f"Page size must be an integer between 1 and {maximum}.", parameter="page[size]"
        )
    return size


def encode_cursor(kind: str, value: str | int) -> str:
    return base64.urlsafe_b64encode(f"next::{kind}::{value}".encode()).decode().rstrip("=")


def decode_cursor(request: HttpRequest, kind: str) -> str | None:
    raw = request.GET.get("page[cursor]")
    if raw is None:
        return None
    # Klaviyo's Python SDK sends `page[cursor]==abc` (a stray leading "="); Klaviyo copes.
    raw = raw.lstrip("=")
    try:
        decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    prefix = f"next::{kind}::"
    if not decoded.startswith(prefix) or len(decoded) == len(prefix):
        raise invalid("Invalid cursor provided.", parameter="page[cursor]")
    return decoded[len(prefix) :]


def collection_links(request: HttpRequest, next_cursor: str | None) -> dict[str, str]:
    links = {"self": request.build_absolute_uri()}
    if next_cursor is not None:
        query = request.GET.copy()
        query["page[cursor]"] = next_cursor
        links["next"] = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    # `prev` and an absent `next` are left out: the spec types them as URIs, never null.
    return links


# --- Filters ----------------------------------------------------------------------------

_STRING = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'")
_TERM = re.compile(r"^\s*([a-z-]+)\(\s*([\w.]+)\s*,(.*)\)\s*$", re.DOTALL)
_BARE = re.compile(r"^\s*[\w:.+-]+\s*$")


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in (p.strip() for p in parts) if part]


@dataclass(frozen=True)
class FilterTerm:
    """One `operator(field,value)` of a `filter` parameter; `values` are the raw strings."""

    operator: str
    field: str
    values: list[str]


def parse_filter(request: HttpRequest, allowed: dict[str, set[str]]) -> list[FilterTerm]:
    """`equals(email,"a@b.c")`, `any(id,["a","b"])`, `greater-than(joined_group_at,2026-...)`,
    joined by `,` or `and(...)`.

    Strings are quoted; dates are bare, as Klaviyo (and its SDK's FilterBuilder) writes them.
    Anything else, or an operator `allowed` does not give the field, is Klaviyo's 400 on
    `filter`.
    """
    text = request.GET.get("filter")
    if not text:
        return []
    terms: list[FilterTerm] = []
    pending = _split_top_level(text)
    while pending:
        term = pending.pop(0)
        if term.startswith("and(") and term.endswith(")"):
            pending[:0] = _split_top_level(term[4:-1])
            continue
        match = _TERM.match(term)
        if not match:
            raise invalid(f"Invalid filter: {term!r}.", parameter="filter")
        operator, name, raw_value = match.groups()
        if operator not in allowed.get(name, set()):
            raise invalid(
                f"Filter operation {operator!r} is not allowed for field {name!r}.",
                parameter="filter",
            )
        values = [double or single for double, single in _STRING.findall(raw_value)]
        if not values and _BARE.match(raw_value):
            values = [raw_value.strip()]
        if not values:
            raise invalid(f"Invalid filter value in {term!r}.", parameter="filter")
        terms.append(FilterTerm(operator, name, values))
    return terms


def filter_datetime(term: FilterTerm) -> datetime:
    """The date-time a comparison filter compares with (one without an offset is UTC)."""
    try:
        value = datetime.fromisoformat(term.values[0])
    except ValueError:
        raise invalid(
            f"Invalid date-time {term.values[0]!r} for {term.field!r}.", parameter="filter"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def list_param(request: HttpRequest, name: str) -> list[str]:
    """A comma-separated query parameter such as `additional-fields[profile]`."""
    return [item.strip() for item in request.GET.get(name, "").split(",") if item.strip()]
