"""What Klaviyo answers, parsed once at this boundary into small frozen records.

Each operation of `KlaviyoClient` returns these, never a JSON:API document: the code that uses
Klaviyo reads `job.failed_count`, not `job["attributes"]["failed_count"]`. Parsing is lenient
where Klaviyo may leave a field out (an absent attribute is empty, zero or None) and strict
where an answer is unusable without it (a resource without an id, a document without `data`:
`KlaviyoUnavailable`, as for any answer that is not Klaviyo's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from integrations.klaviyo.errors import KlaviyoUnavailable

JSONDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Account:
    """The connected Klaviyo account (`GET /api/accounts/`)."""

    id: str
    public_api_key: str
    organization_name: str
    default_sender_name: str
    default_sender_email: str
    timezone: str
    test_account: bool | None

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> Account:
        attributes = _attributes(resource)
        contact = as_mapping(attributes.get("contact_information"))
        test_account = attributes.get("test_account")
        return cls(
            id=_id(resource, "account"),
            public_api_key=_text(attributes.get("public_api_key")),
            organization_name=_text(contact.get("organization_name")),
            default_sender_name=_text(contact.get("default_sender_name")),
            default_sender_email=_text(contact.get("default_sender_email")),
            timezone=_text(attributes.get("timezone")),
            test_account=test_account if isinstance(test_account, bool) else None,
        )


@dataclass(frozen=True, slots=True)
class KlaviyoList:
    """A list; `opt_in_process` is `single_opt_in` or `double_opt_in` ("" if not given)."""

    id: str
    name: str
    opt_in_process: str
    created: datetime | None

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> KlaviyoList:
        attributes = _attributes(resource)
        return cls(
            id=_id(resource, "list"),
            name=_text(attributes.get("name")),
            opt_in_process=_text(attributes.get("opt_in_process")),
            created=_moment(attributes.get("created")),
        )


@dataclass(frozen=True, slots=True)
class ListMember:
    """A profile in a list, as far as the list shows it ("" when Klaviyo sent no email)."""

    profile_id: str
    email: str
    joined_group_at: datetime | None

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> ListMember:
        attributes = _attributes(resource)
        return cls(
            profile_id=_id(resource, "profile"),
            email=_text(attributes.get("email")),
            joined_group_at=_moment(attributes.get("joined_group_at")),
        )


@dataclass(frozen=True, slots=True)
class ListSuppression:
    """The profile may get no email from one list, for `reason` (e.g. `UNSUBSCRIBE`)."""

    list_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ProfileConsent:
    """A profile's email marketing consent (`subscriptions.email.marketing`): `consent` is
    `SUBSCRIBED`, `UNSUBSCRIBED`, `NEVER_SUBSCRIBED`, ... (None if not given),
    `suppressions` the reasons Klaviyo sends it no email at all, `list_suppressions` those of
    single lists."""

    profile_id: str
    email: str
    consent: str | None
    suppressions: tuple[str, ...]
    list_suppressions: tuple[ListSuppression, ...]

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> ProfileConsent:
        attributes = _attributes(resource)
        subscriptions = as_mapping(attributes.get("subscriptions"))
        marketing = as_mapping(as_mapping(subscriptions.get("email")).get("marketing"))
        consent = marketing.get("consent")
        return cls(
            profile_id=_id(resource, "profile"),
            email=_text(attributes.get("email")),
            consent=consent if isinstance(consent, str) else None,
            suppressions=tuple(
                _text(as_mapping(item).get("reason"))
                for item in _items(marketing.get("suppression"))
            ),
            list_suppressions=tuple(
                ListSuppression(
                    list_id=_text(as_mapping(item).get("list_id")),
                    reason=_text(as_mapping(item).get("reason")),
                )
                for item in _items(marketing.get("list_suppressions"))
            ),
        )


@dataclass(frozen=True, slots=True)
class BulkImportJob:
    """A profile bulk import job: `status` is `queued`, `processing`, `complete` or
    `cancelled`."""

    id: str
    status: str
    total_count: int
    completed_count: int
    failed_count: int

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> BulkImportJob:
        attributes = _attributes(resource)
        return cls(
            id=_id(resource, "profile-bulk-import-job"),
            status=_text(attributes.get("status")),
            total_count=_count(attributes.get("total_count")),
            completed_count=_count(attributes.get("completed_count")),
            failed_count=_count(attributes.get("failed_count")),
        )


@dataclass(frozen=True, slots=True)
class ImportRejection:
    """One profile a bulk import job rejected: the email it was sent with ("" if the payload
    had none) and Klaviyo's words (its `detail`, else its `title`; "" if neither)."""

    email: str
    message: str

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> ImportRejection:
        attributes = _attributes(resource)
        payload = as_mapping(attributes.get("original_payload"))
        return cls(
            email=_text(payload.get("email")),
            message=_text(attributes.get("detail")) or _text(attributes.get("title")),
        )


@dataclass(frozen=True, slots=True)
class Metric:
    """A metric (an event name, per source); `integration_name` and `integration_category`
    say which integration's it is ("" for none: Klaviyo leaves `integration` untyped)."""

    id: str
    name: str
    integration_name: str
    integration_category: str
    created: datetime | None
    updated: datetime | None

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> Metric:
        attributes = _attributes(resource)
        integration = as_mapping(attributes.get("integration"))
        return cls(
            id=_id(resource, "metric"),
            name=_text(attributes.get("name")),
            integration_name=_text(integration.get("name")),
            integration_category=_text(integration.get("category")),
            created=_moment(attributes.get("created")),
            updated=_moment(attributes.get("updated")),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """A recorded event. `unique_id` is the one it was sent with, which Klaviyo hands back
    among the properties as `$event_id` (not stated in the spec; "" when absent)."""

    id: str
    metric_id: str
    profile_id: str
    datetime: datetime | None
    unique_id: str
    properties: Mapping[str, Any]

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> Event:
        attributes = _attributes(resource)
        relationships = as_mapping(resource.get("relationships"))
        properties = dict(as_mapping(attributes.get("event_properties")))
        return cls(
            id=_id(resource, "event"),
            metric_id=_related_id(relationships, "metric"),
            profile_id=_related_id(relationships, "profile"),
            datetime=_moment(attributes.get("datetime")),
            unique_id=_text(properties.get("$event_id")),
            properties=properties,
        )


@dataclass(frozen=True, slots=True)
class MetricAggregate:
    """A metric aggregate query's answer: for each row (one per group; one without `by`),
    each measurement's values, one per date bucket."""

    dates: tuple[datetime | None, ...]
    rows: tuple[Mapping[str, tuple[float, ...]], ...]

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> MetricAggregate:
        attributes = _attributes(resource)
        dates = tuple(_moment(date) for date in _items(attributes.get("dates")))
        rows = tuple(
            {
                name: tuple(_number(value) for value in _items(values))
                for name, values in as_mapping(as_mapping(row).get("measurements")).items()
            }
            for row in _items(attributes.get("data"))
        )
        return cls(dates=dates, rows=rows)

    def total(self, measurement: str) -> int:
        """The measurement summed over every row and bucket (a count: a whole number)."""
        return round(sum(sum(row.get(measurement, ())) for row in self.rows))


@dataclass(frozen=True, slots=True)
class Flow:
    """A flow: `status` is `draft`, `manual` or `live` as Klaviyo writes it, `trigger_type`
    one of the spec's (`Metric`, `Added to List`, ...), "" when not given."""

    id: str
    name: str
    status: str
    trigger_type: str
    archived: bool
    created: datetime | None
    updated: datetime | None

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> Flow:
        attributes = _attributes(resource)
        return cls(
            id=_id(resource, "flow"),
            name=_text(attributes.get("name")),
            status=_text(attributes.get("status")),
            trigger_type=_text(attributes.get("trigger_type")),
            archived=attributes.get("archived") is True,
            created=_moment(attributes.get("created")),
            updated=_moment(attributes.get("updated")),
        )


# --- JSON:API documents -----------------------------------------------------------------------


def primary_resource(document: Mapping[str, Any] | None) -> JSONDict:
    """The one resource a document's `data` holds."""
    data = (document or {}).get("data")
    if not isinstance(data, dict):
        raise KlaviyoUnavailable(detail="Klaviyo returned a response without data.")
    return data


def primary_resources(document: Mapping[str, Any] | None) -> list[JSONDict]:
    """The resources a collection document's `data` holds (none when it holds nothing)."""
    data = (document or {}).get("data")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


# --- Lenient reading of attributes ------------------------------------------------------------


def _id(resource: Mapping[str, Any], kind: str) -> str:
    value = resource.get("id")
    if not isinstance(value, str | int) or value == "":
        raise KlaviyoUnavailable(detail=f"Klaviyo returned a {kind} without an id.")
    return str(value)


def _related_id(relationships: Mapping[str, Any], name: str) -> str:
    return _text(as_mapping(as_mapping(relationships.get(name)).get("data")).get("id"))


def _attributes(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_mapping(resource.get("attributes"))


def as_mapping(value: object) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _moment(value: object) -> datetime | None:
    """An ISO 8601 timestamp; one without a zone is UTC (Klaviyo's own zone)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
