"""Events: checked when they arrive (create_event, bulk_create_events), recorded later.

Both answer 202 with no body, as Klaviyo does, and store an `EventJob` applied by the due-jobs
loop (jobs.py) once SANDBOX_JOB_SECONDS have passed: the profile is created or updated, the
metric created by name if new (attributed to the calling app), and the event recorded unless
one with the same `unique_id` is already recorded for that metric and profile. Without one,
the event's time to the second, in epoch seconds, stands in (the spec: "this will use the
time to the second", one event per profile and metric per second), as Klaviyo did in its
Track API where that default was the `$event_id` handed back. A repeat is dropped silently;
in a bulk request, a `unique_id` sent twice for the same profile and metric fails the whole
request with a 400 (the spec: "the request will fail and no events will be processed").

An event for a profile the sandbox rejects (an undeliverable address, as in bulk imports and
subscriptions) is accepted with 202 like any other and then dropped: no profile, metric,
event or flow message comes of it, as Klaviyo reports nothing back for accepted events.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from klaviyo_sandbox import clock, ids
from klaviyo_sandbox.flows import flow_messages_record
from klaviyo_sandbox.jsonapi import ApiError, invalid
from klaviyo_sandbox.metrics import metric_for_event
from klaviyo_sandbox.models import Account, Event, EventJob, Profile
from klaviyo_sandbox.profiles import checked_identifiers, matching_profiles, profile_upsert
from klaviyo_sandbox.routers import DATABASE
from klaviyo_sandbox.suppression import email_undeliverable

BULK_MAX_EVENTS = 1_000
METRIC_NAME_MAX = 128  # "Must be less than 128 characters."
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


def _profile_key(profile: dict[str, Any], pointer: str) -> tuple[str, ...]:
    """Who the event is for, as far as the request says: its id or its identifiers."""
    attributes = profile.get("attributes") or {}
    identifiers = checked_identifiers(attributes, f"{pointer}/attributes")
    if profile.get("id"):
        return ("id", profile["id"])
    if not any(identifiers.values()):
        raise invalid(
            "A profile needs an id, email, phone_number or external_id.",
            pointer=f"{pointer}/attributes",
        )
    return tuple(f"{name}={value}" for name, value in sorted(identifiers.items()) if value)


def _event_time(raw: str | None, *, received: datetime, pointer: str) -> datetime:
    """The event's time, truncated to the second: after 1990, at most a year ahead."""
    at = datetime.fromisoformat(raw) if raw else received
    at = at.astimezone(UTC).replace(microsecond=0)
    if not EARLIEST <= at <= received + timedelta(days=365):
        raise invalid(
            "The event time must be after 1990 and at most a year in the future.",
            pointer=f"{pointer}/time",
        )
    return at


def _entry(
    attributes: dict[str, Any],
    *,
    profile: dict[str, Any],
    backfill: bool,
    received: datetime,
    pointer: str,
) -> dict[str, Any]:
    name = attributes["metric"]["data"]["attributes"]["name"]
    if not name.strip() or len(name) >= METRIC_NAME_MAX:
        raise invalid(
            f"A metric name must be 1 to {METRIC_NAME_MAX - 1} characters.",
            pointer=f"{pointer}/metric/data/attributes/name",
        )
    at = _event_time(attributes.get("time"), received=received, pointer=pointer)
    return {
        "profile": profile,
        "metric": name,
        "properties": attributes["properties"],
        "time": at.isoformat(),
        "value": attributes.get("value"),
        "value_currency": attributes.get("value_currency") or "",
        "unique_id": attributes.get("unique_id") or str(int(at.timestamp())),
        "backfill": bool(backfill),
    }


def _job_create(*, account: Account, client_id: str, events: list[dict[str, Any]]) -> EventJob:
    now = clock.now()
    return EventJob.objects.using(DATABASE).create(
        id=ids.ulid(now),
        account=account,
        client_id=client_id,
        created_at=now,
        ready_at=clock.job_ready_at(now),
        events=events,
    )


def event_create(*, account: Account, client_id: str, data: dict[str, Any]) -> EventJob:
    """POST /api/events: one event, checked now, recorded once its job is due."""
    attributes = data["attributes"]
    profile = attributes["profile"]["data"]
    _profile_key(profile, "/data/attributes/profile/data")
    entry = _entry(
        attributes,
        profile=profile,
        backfill=attributes.get("backfill") or False,
        received=clock.now(),
        pointer="/data/attributes",
    )
    return _job_create(account=account, client_id=client_id, events=[entry])


def event_bulk_create(*, account: Account, client_id: str, data: dict[str, Any]) -> EventJob:
    """POST /api/event-bulk-create-jobs: up to 1,000 events, grouped by profile; one key twice
    for the same profile and metric fails the whole request."""
    groups = data["attributes"]["events-bulk-create"]["data"]
    pointer = "/data/attributes/events-bulk-create/data"
    if sum(len(group["attributes"]["events"]["data"]) for group in groups) > BULK_MAX_EVENTS:
        raise invalid(f"A bulk create job takes at most {BULK_MAX_EVENTS} events.", pointer=pointer)
    received = clock.now()
    entries: list[dict[str, Any]] = []
    seen: dict[tuple[Any, ...], str] = {}
    for index, group in enumerate(groups):
        group_pointer = f"{pointer}/{index}/attributes"
        profile = group["attributes"]["profile"]["data"]
        who = _profile_key(profile, f"{group_pointer}/profile/data")
        for number, event in enumerate(group["attributes"]["events"]["data"]):
            event_pointer = f"{group_pointer}/events/data/{number}/attributes"
            entry = _entry(
                event["attributes"],
                profile=profile,
                backfill=group["attributes"].get("backfill") or False,
                received=received,
                pointer=event_pointer,
            )
            if not event["attributes"].get("unique_id"):
                # Two events without one in the same second: the second is dropped, not
                # refused (only a `unique_id` sent twice fails the request).
                entries.append(entry)
                continue
            key = (who, entry["metric"], entry["unique_id"])
            if key in seen:
                raise invalid(
                    f"unique_id {entry['unique_id']!r} is repeated for the same profile and "
                    f"metric (first at {seen[key]}): no events were processed.",
                    pointer=f"{event_pointer}/unique_id",
                )
            seen[key] = event_pointer
            entries.append(entry)
    return _job_create(account=account, client_id=client_id, events=entries)


def _profile_rejected(account: Account, profile: dict[str, Any]) -> bool:
    """Whether the event's profile has an address the sandbox rejects: the one the event
    sends, or else the one of the profile its id or identifiers name."""
    attributes = profile.get("attributes") or {}
    email = attributes.get("email")
    if not email:
        if profile.get("id"):
            known = Profile.objects.using(DATABASE).filter(account=account, id=profile["id"])
            email = known.values_list("email", flat=True).first()
        else:
            identifiers = checked_identifiers(attributes, "/profile/attributes")
            email = next(
                (p.email for p in matching_profiles(account, identifiers) if p.email), None
            )
    return email_undeliverable(email)


def event_job_apply(job: EventJob, *, at: datetime) -> None:
    """Record the job's events; one whose profile is rejected (an undeliverable address) or
    cannot be saved (an identifier taken by another profile) is dropped, as Klaviyo reports
    nothing back for accepted events."""
    for entry in job.events:
        if _profile_rejected(job.account, entry["profile"]):
            continue
        try:
            profile, _ = profile_upsert(account=job.account, data=entry["profile"])
        except ApiError:
            continue
        metric = metric_for_event(
            account=job.account, name=entry["metric"], client_id=job.client_id
        )
        happened = datetime.fromisoformat(entry["time"])
        try:
            with transaction.atomic(using=DATABASE):
                event = Event.objects.using(DATABASE).create(
                    id=ids.ulid(at),
                    account=job.account,
                    metric=metric,
                    profile=profile,
                    datetime=happened,
                    properties=entry["properties"],
                    value=entry["value"],
                    value_currency=entry["value_currency"],
                    unique_id=entry["unique_id"],
                    uuid=str(uuid.uuid4()),
                    backfill=entry["backfill"],
                    created=at,
                )
        except IntegrityError:
            continue  # already recorded: only the first event with a key is kept
        flow_messages_record(event=event)
        if profile.last_event_date is None or happened > profile.last_event_date:
            profile.last_event_date = happened
            profile.save(using=DATABASE, update_fields=["last_event_date"])
