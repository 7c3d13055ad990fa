"""Data privacy deletion jobs: the request checked when it arrives, the profiles deleted later.

`POST /api/data-privacy-deletion-jobs` (request_profile_deletion) names the profiles by one
identifier, `email`, `phone_number` or the profile `id` ("If multiple identifiers are
provided, we will return an error"), and answers 202 with no body. "The deletion occurs
asynchronously": the job is applied by the due-jobs loop (jobs.py) once SANDBOX_JOB_SECONDS
have passed, and "all profiles that match the provided identifier will be deleted", with their
list memberships, consent and events. An identifier no profile has is accepted the same way
and deletes nothing. Work accepted before the request is applied first (jobs run oldest
first); an event or subscription accepted after it makes a new profile, as in Klaviyo.
"""

from __future__ import annotations

from typing import Any

from klaviyo_sandbox import clock, ids
from klaviyo_sandbox.jsonapi import invalid
from klaviyo_sandbox.models import Account, DeletionJob, Profile
from klaviyo_sandbox.profiles import checked_identifiers
from klaviyo_sandbox.routers import DATABASE

POINTER = "/data/attributes/profile/data"


def deletion_job_create(*, account: Account, data: dict[str, Any]) -> DeletionJob:
    """Check the request's one identifier now (an email is an email, a phone number E.164);
    store the job to apply once due."""
    profile = data["attributes"]["profile"]["data"]
    attributes = profile.get("attributes") or {}
    identifiers = checked_identifiers(
        {name: attributes[name] for name in ("email", "phone_number") if name in attributes},
        f"{POINTER}/attributes",
    )
    given = {name: value for name, value in identifiers.items() if value}
    if profile.get("id"):
        given["id"] = profile["id"]
    if len(given) != 1:
        raise invalid(
            "Provide exactly one identifier: email, phone_number or id"
            + (f" (got {', '.join(given)})." if given else "."),
            pointer=POINTER,
        )
    [(identifier, value)] = given.items()
    now = clock.now()
    return DeletionJob.objects.using(DATABASE).create(
        id=ids.ulid(now),
        account=account,
        created_at=now,
        ready_at=clock.job_ready_at(now),
        identifier=identifier,
        value=value,
    )


def deletion_job_apply(job: DeletionJob) -> None:
    """Delete the account's profiles the job names; their memberships, events (and the flow
    messages those triggered) go with them, and their consent is part of the profile."""
    # The identifiers are the profile's field names: email, phone_number, id.
    matching = Profile.objects.using(DATABASE).filter(
        account=job.account, **{job.identifier: job.value}
    )
    _, deleted = matching.delete()
    job.deleted_count = deleted.get(Profile._meta.label, 0)
    job.save(using=DATABASE, update_fields=["deleted_count"])
