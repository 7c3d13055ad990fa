"""Profile bulk import jobs: the request checked when it arrives, its profiles applied later."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from klaviyo_sandbox import clock, ids
from klaviyo_sandbox.jsonapi import ApiError, invalid, not_found
from klaviyo_sandbox.lists import list_get, membership_add
from klaviyo_sandbox.models import Account, ImportJob, JobStatus, KlaviyoList, MembershipStatus
from klaviyo_sandbox.profiles import profile_upsert
from klaviyo_sandbox.routers import DATABASE
from klaviyo_sandbox.suppression import email_undeliverable

BULK_IMPORT_MAX_PROFILES = 10_000


def import_job_create(*, account: Account, data: dict[str, Any]) -> ImportJob:
    """POST /api/profile-bulk-import-jobs: the request is checked now, the profiles later.

    Per-profile problems (a malformed or undeliverable address, a conflict) do not fail the
    request: the job counts them in `failed_count` and lists them as its import errors.
    """
    entries = data["attributes"]["profiles"]["data"]
    if len(entries) > BULK_IMPORT_MAX_PROFILES:
        raise invalid(
            f"A bulk import job takes at most {BULK_IMPORT_MAX_PROFILES} profiles.",
            pointer="/data/attributes/profiles/data",
        )
    list_refs = ((data.get("relationships") or {}).get("lists") or {}).get("data") or []
    lists = []
    for index, ref in enumerate(list_refs):
        try:
            lists.append(list_get(account=account, list_id=ref["id"]))
        except ApiError as error:
            error.pointer = f"/data/relationships/lists/data/{index}/id"
            raise
    now = clock.now()
    return ImportJob.objects.using(DATABASE).create(
        id=ids.ulid(now),
        account=account,
        status=JobStatus.QUEUED,
        created_at=now,
        ready_at=clock.job_ready_at(now),
        total_count=len(entries),
        list_ids=[klaviyo_list.id for klaviyo_list in lists],
        profiles=entries,
        expires_at=now + timedelta(days=7),
    )


def _import_error(error: ApiError, entry: dict[str, Any], pointer: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "code": error.code,
        "title": error.title,
        "detail": error.detail,
        "source": {"pointer": error.pointer or pointer},
        "original_payload": entry.get("attributes") or {},
    }


def import_job_apply(job: ImportJob, *, at: datetime) -> None:
    account = job.account
    # A list deleted while the job waited is skipped, its profiles still imported.
    lists = list(KlaviyoList.objects.using(DATABASE).filter(account=account, id__in=job.list_ids))
    profile_ids: list[str] = []
    for index, entry in enumerate(job.profiles):
        pointer = f"/data/attributes/profiles/data/{index}"
        email = (entry.get("attributes") or {}).get("email")
        try:
            if email and email_undeliverable(email):
                raise invalid(
                    f"{email.strip().lower()} is not a deliverable email address.",
                    pointer=f"{pointer}/attributes/email",
                )
            profile, _ = profile_upsert(account=account, data=entry, pointer=pointer)
        except ApiError as error:
            job.failed_count += 1
            job.import_errors.append(_import_error(error, entry, pointer))
            continue
        job.completed_count += 1
        profile_ids.append(profile.id)
        for klaviyo_list in lists:
            # Imports add to a list without touching consent, double opt-in or not.
            membership_add(
                klaviyo_list=klaviyo_list, profile=profile, status=MembershipStatus.MEMBER
            )
    job.profile_ids = profile_ids
    job.status = JobStatus.COMPLETE
    job.started_at = job.starts_at
    job.completed_at = at
    job.save(using=DATABASE)


def import_job_get(*, account: Account, job_id: str) -> ImportJob:
    job = ImportJob.objects.using(DATABASE).filter(account=account, id=job_id).first()
    if job is None:
        raise not_found(f"A profile bulk import job with id {job_id} does not exist.")
    return job
