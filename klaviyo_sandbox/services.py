"""What the sandbox's REST endpoints and UI do to its data: lists, profiles, jobs, consent.

Bodies arrive already validated against the OpenAPI request schema (spec.py); the rules here
are the ones a schema cannot say (an identifier is required, emails are emails, identifiers
are unique, the 1,000-profile cap). Failures raise `ApiError` with Klaviyo's code and pointer.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from klaviyo_sandbox import clock, ids
from klaviyo_sandbox.jsonapi import ApiError, invalid, not_found
from klaviyo_sandbox.models import (
    Account,
    Consent,
    ImportJob,
    JobStatus,
    KlaviyoList,
    Membership,
    MembershipStatus,
    OptInProcess,
    Profile,
    SubscriptionJob,
    SuppressionReason,
)
from klaviyo_sandbox.routers import DATABASE
from klaviyo_sandbox.seed import seed_accounts

IDENTIFIERS = ("email", "phone_number", "external_id")
PROFILE_ATTRIBUTES = (
    *IDENTIFIERS,
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
    "image",
)
SUBSCRIBE_MAX_PROFILES = 1_000
BULK_IMPORT_MAX_PROFILES = 10_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def sandbox_seed() -> None:
    """The seed accounts, created if missing (after a test flush, say)."""
    seed_accounts(Account, KlaviyoList, using=DATABASE)


# --- Lists --------------------------------------------------------------------------------


def list_get(*, account: Account, list_id: str) -> KlaviyoList:
    klaviyo_list = KlaviyoList.objects.using(DATABASE).filter(account=account, id=list_id).first()
    if klaviyo_list is None:
        raise not_found(f"A list with id {list_id} does not exist.")
    return klaviyo_list


def list_create(*, account: Account, name: str, opt_in_process: str | None = None) -> KlaviyoList:
    if not name.strip():
        raise invalid("A list name is required.", pointer="/data/attributes/name")
    now = clock.now()
    return KlaviyoList.objects.using(DATABASE).create(
        id=ids.short_id(),
        account=account,
        name=name,
        opt_in_process=opt_in_process or account.default_opt_in_process,
        created=now,
        updated=now,
    )


def list_update(*, klaviyo_list: KlaviyoList, attributes: dict[str, Any]) -> KlaviyoList:
    if attributes.get("name") is not None:
        if not attributes["name"].strip():
            raise invalid("A list name cannot be blank.", pointer="/data/attributes/name")
        klaviyo_list.name = attributes["name"]
    if attributes.get("opt_in_process") is not None:
        klaviyo_list.opt_in_process = attributes["opt_in_process"]
    klaviyo_list.updated = clock.now()
    klaviyo_list.save()
    return klaviyo_list


def list_delete(*, klaviyo_list: KlaviyoList) -> None:
    klaviyo_list.delete()


def list_profile_count(*, klaviyo_list: KlaviyoList) -> int:
    return klaviyo_list.memberships.filter(status=MembershipStatus.MEMBER).count()


# --- Profiles -------------------------------------------------------------------------------


def _identifiers(attributes: dict[str, Any], pointer: str) -> dict[str, str | None]:
    """Normalize and check the identifiers present in `attributes` (None means "clear")."""
    found: dict[str, str | None] = {}
    for name in IDENTIFIERS:
        if name not in attributes:
            continue
        value = attributes[name]
        if value is None or value == "":
            found[name] = None
            continue
        value = value.strip()
        if name == "email":
            value = value.lower()
            if not _EMAIL.match(value):
                raise invalid(f"Invalid email address: {value!r}.", pointer=f"{pointer}/email")
        if name == "phone_number" and not _E164.match(value):
            raise invalid(
                f"Invalid phone number {value!r}: use E.164, such as +15005550006.",
                pointer=f"{pointer}/phone_number",
            )
        found[name] = value
    return found


def _matching_profiles(account: Account, identifiers: dict[str, str | None]) -> list[Profile]:
    condition = Q()
    for name, value in identifiers.items():
        if value is not None:
            condition |= Q(**{name: value})
    if not condition:
        return []
    return list(Profile.objects.using(DATABASE).filter(condition, account=account))


def _duplicate(profile: Profile, pointer: str) -> ApiError:
    return ApiError(
        409,
        "duplicate_profile",
        "Conflict.",
        "A profile already exists with one of these identifiers.",
        pointer=pointer,
        meta={"duplicate_profile_id": profile.id},
    )


def _apply_attributes(profile: Profile, attributes: dict[str, Any]) -> None:
    """Set what is given: null clears a field, an omitted field keeps its value (Klaviyo)."""
    for name in PROFILE_ATTRIBUTES:
        if name in attributes:
            setattr(profile, name, attributes[name])
    if "location" in attributes:
        location = attributes["location"] or {}
        profile.location = {**profile.location, **location} if location else {}
    if attributes.get("properties"):
        profile.properties = {**profile.properties, **attributes["properties"]}
    elif "properties" in attributes and attributes["properties"] is None:
        profile.properties = {}


def _apply_patch_properties(profile: Profile, meta: dict[str, Any] | None) -> None:
    patch = (meta or {}).get("patch_properties") or {}
    for key, value in (patch.get("append") or {}).items():
        current = profile.properties.get(key)
        items = current if isinstance(current, list) else ([] if current is None else [current])
        profile.properties[key] = [*items, value]
    for key, value in (patch.get("unappend") or {}).items():
        current = profile.properties.get(key)
        if isinstance(current, list):
            profile.properties[key] = [item for item in current if item != value]
    unset = patch.get("unset") or []
    for key in [unset] if isinstance(unset, str) else unset:
        profile.properties.pop(key, None)


def _new_profile(account: Account) -> Profile:
    now = clock.now()
    return Profile(id=ids.ulid(now), account=account, created=now, updated=now)


def profile_create(*, account: Account, attributes: dict[str, Any]) -> Profile:
    """POST /api/profiles: 409 duplicate_profile if any identifier is taken."""
    pointer = "/data/attributes"
    identifiers = _identifiers(attributes, pointer)
    if not any(identifiers.values()):
        raise invalid("One of email, phone_number or external_id is required.", pointer=pointer)
    with transaction.atomic(using=DATABASE):
        existing = _matching_profiles(account, identifiers)
        if existing:
            raise _duplicate(existing[0], pointer)
        profile = _new_profile(account)
        _apply_attributes(profile, {**attributes, **identifiers})
        profile.save(using=DATABASE)
    return profile


def profile_upsert(
    *, account: Account, data: dict[str, Any], pointer: str = "/data"
) -> tuple[Profile, bool]:
    """POST /api/profile-import (and each profile of a bulk import): (profile, created)."""
    attributes = data.get("attributes") or {}
    identifiers = _identifiers(attributes, f"{pointer}/attributes")
    with transaction.atomic(using=DATABASE):
        if data.get("id"):
            profile = Profile.objects.using(DATABASE).filter(account=account, id=data["id"]).first()
            if profile is None:
                raise not_found(
                    f"A profile with id {data['id']} does not exist.", pointer=f"{pointer}/id"
                )
            others = [p for p in _matching_profiles(account, identifiers) if p.pk != profile.pk]
            if others:
                raise _duplicate(others[0], f"{pointer}/attributes")
        else:
            if not any(identifiers.values()):
                raise invalid(
                    "One of email, phone_number or external_id is required.",
                    pointer=f"{pointer}/attributes",
                )
            matches = _matching_profiles(account, identifiers)
            if len(matches) > 1:
                # The identifiers belong to different profiles (node-sdk #75).
                raise _duplicate(matches[0], f"{pointer}/attributes")
            profile = matches[0] if matches else None
        created = profile is None
        if profile is None:
            profile = _new_profile(account)
        _apply_attributes(profile, {**attributes, **identifiers})
        _apply_patch_properties(profile, data.get("meta"))
        profile.updated = clock.now()
        profile.save(using=DATABASE)
    return profile, created


def _membership_add(*, klaviyo_list: KlaviyoList, profile: Profile, status: str) -> Membership:
    now = clock.now()
    membership, created = Membership.objects.using(DATABASE).get_or_create(
        list=klaviyo_list,
        profile=profile,
        defaults={
            "status": status,
            "requested_at": now,
            "joined_group_at": now if status == MembershipStatus.MEMBER else None,
        },
    )
    if not created and status == MembershipStatus.MEMBER and membership.status != status:
        membership.status = status
        membership.joined_group_at = now
        membership.save(update_fields=["status", "joined_group_at"])
    return membership


# --- Undeliverable addresses and suppression ----------------------------------------------

# RFC 2606 reserves the `.invalid` top-level domain: no address under it can ever receive
# mail, so the sandbox treats it as the addresses Klaviyo's own validation rejects.
UNDELIVERABLE_TLD = "invalid"
# bulk_subscribe_profiles (spec 2026-07-15): "This API will remove any UNSUBSCRIBE,
# SPAM_REPORT or USER_SUPPRESSED suppressions from the provided profiles." The suppression
# enum has no SPAM_REPORT: its SPAM_COMPLAINT is the same thing. A profile suppressed for
# any other reason (HARD_BOUNCE, INVALID_EMAIL: the address itself does not work) stays
# suppressed, so subscribing it would change nothing it can receive: it is left out.
LIFTED_BY_SUBSCRIBING = frozenset(
    {
        SuppressionReason.UNSUBSCRIBE.value,
        SuppressionReason.SPAM_COMPLAINT.value,
        SuppressionReason.USER_SUPPRESSED.value,
    }
)
KEPT_BY_SUBSCRIBING = frozenset(SuppressionReason.values) - LIFTED_BY_SUBSCRIBING


def email_undeliverable(email: str | None) -> bool:
    """A well-formed address under the reserved `.invalid` TLD (`nobody@bounce.invalid`)."""
    if not email:
        return False
    email = email.strip().lower()
    return bool(_EMAIL.match(email)) and email.rsplit(".", 1)[-1] == UNDELIVERABLE_TLD


def _suppress(profile: Profile, reason: str, at: datetime) -> None:
    profile.email_suppression = reason
    profile.email_suppressed_at = at
    if reason == SuppressionReason.UNSUBSCRIBE:
        # An unsubscribe is a consent change too, as in Klaviyo.
        profile.email_consent = Consent.UNSUBSCRIBED
        profile.email_consent_last_updated = at


def profile_suppress(*, account: Account, email: str, reason: str) -> Profile:
    """Suppress an address for email marketing, creating its profile if there is none.

    The sandbox's stand-in for what happens to a profile in Klaviyo: a bounce, a complaint,
    an unsubscribe link, a user's manual suppression (the UI's form, `testing.suppress`).
    """
    identifiers = _identifiers({"email": email}, "/email")
    if not identifiers.get("email"):
        raise invalid("An email address is required.", pointer="/email")
    now = clock.now()
    with transaction.atomic(using=DATABASE):
        profile = (
            Profile.objects.using(DATABASE)
            .filter(account=account, email=identifiers["email"])
            .first()
        ) or _new_profile(account)
        profile.email = identifiers["email"]
        _suppress(profile, reason, now)
        profile.updated = now
        profile.save(using=DATABASE)
    return profile


def profile_unsuppress(*, profile: Profile) -> Profile:
    """Lift the profile's suppression; its consent stays as it is."""
    profile.email_suppression = ""
    profile.email_suppressed_at = None
    profile.updated = clock.now()
    profile.save(using=DATABASE)
    return profile


def suppressed_profiles(*, account: Account) -> list[Profile]:
    return list(
        Profile.objects.using(DATABASE)
        .filter(account=account)
        .exclude(email_suppression="")
        .order_by("email")
    )


# --- Jobs -------------------------------------------------------------------------------------
#
# Klaviyo's bulk import and subscribe jobs are asynchronous: the request is checked and
# answered 202 at once, and the profiles change later. The sandbox stores each job with a
# `ready_at` (creation + SANDBOX_JOB_SECONDS) and applies it lazily, when someone looks after
# that time (`jobs_catch_up`): no background thread, and on a test's frozen clock a job
# moves only when the test advances the clock. Served on its own (`manage.py sandbox_server`)
# it applies them in a background thread instead, as Klaviyo does: a caller polling a job
# of a thousand profiles then reads "processing" at once, instead of waiting in its request
# while the job is applied.


def _ready_at(created_at: datetime) -> datetime:
    # Read at call time, so a test can change the setting.
    return created_at + timedelta(seconds=settings.SANDBOX_JOB_SECONDS)


def jobs_catch_up(*, account: Account | None = None) -> None:
    """What a request does before it looks at profiles, lists or jobs: apply the jobs due by
    now, unless a background thread applies them (SANDBOX_JOBS_IN_BACKGROUND)."""
    if not settings.SANDBOX_JOBS_IN_BACKGROUND:
        jobs_process_due(account=account)


def jobs_process_due(*, account: Account | None = None) -> int:
    """Apply every job whose `ready_at` has passed, oldest first; returns how many it applied.

    Imports and subscriptions interleave by creation time (their ULIDs break ties, in
    creation order within a process). Each job is claimed with a conditional UPDATE
    (`processed_at IS NULL`) in its own transaction, so when two processes call this at once
    the second finds the job taken, or waits for the first's commit and then finds it taken:
    no job is applied twice.
    """
    now = clock.now()
    due: list[tuple[datetime, str, type[ImportJob] | type[SubscriptionJob]]] = []
    for model in (ImportJob, SubscriptionJob):
        jobs = model.objects.using(DATABASE).filter(processed_at__isnull=True, ready_at__lte=now)
        if account is not None:
            jobs = jobs.filter(account=account)
        due += [(created_at, pk, model) for pk, created_at in jobs.values_list("pk", "created_at")]
    applied = 0
    for _, pk, model in sorted(due, key=lambda item: (item[0], item[1])):
        with transaction.atomic(using=DATABASE):
            claimed = (
                model.objects.using(DATABASE)
                .filter(pk=pk, processed_at__isnull=True)
                .update(processed_at=now)
            )
            if not claimed:
                continue
            job = model.objects.using(DATABASE).select_related("account").get(pk=pk)
            if isinstance(job, ImportJob):
                _import_job_apply(job, at=now)
            else:
                _subscription_job_apply(job, at=now)
        applied += 1
    return applied


# --- Bulk import ----------------------------------------------------------------------------


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
        ready_at=_ready_at(now),
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


def _import_job_apply(job: ImportJob, *, at: datetime) -> None:
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
            _membership_add(
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


# --- Consent ----------------------------------------------------------------------------------


def _subscribe_email(
    profile: Profile, *, at: datetime, custom_source: str | None, double_optin: bool
) -> None:
    profile.email_consent = Consent.SUBSCRIBED
    profile.email_consent_timestamp = at
    profile.email_consent_last_updated = clock.now()
    profile.email_consent_method = "API"
    profile.email_consent_method_detail = ""
    profile.email_custom_method_detail = custom_source
    profile.email_double_optin = double_optin


def subscription_job_create(*, account: Account, data: dict[str, Any]) -> SubscriptionJob:
    """POST /api/profile-subscription-bulk-create-jobs: checked now, applied later (202).

    The whole request is checked before it is accepted, as one request either works or
    fails; what is stored is the checked request, which `_subscription_job_apply` applies.
    """
    attributes = data["attributes"]
    entries = attributes["profiles"]["data"]
    base = "/data/attributes/profiles/data"
    if len(entries) > SUBSCRIBE_MAX_PROFILES:
        raise invalid(
            f"At most {SUBSCRIBE_MAX_PROFILES} profiles can be subscribed in one request.",
            pointer=base,
        )
    historical = bool(attributes.get("historical_import"))
    list_ref = ((data.get("relationships") or {}).get("list") or {}).get("data")
    klaviyo_list = None
    if list_ref:
        try:
            klaviyo_list = list_get(account=account, list_id=list_ref["id"])
        except ApiError as error:
            error.pointer = "/data/relationships/list/data/id"
            raise
    opt_in = klaviyo_list.opt_in_process if klaviyo_list else account.default_opt_in_process
    now = clock.now()

    profiles = []
    for index, entry in enumerate(entries):
        pointer = f"{base}/{index}/attributes"
        entry_attributes = entry["attributes"]
        identifiers = _identifiers(
            {
                key: entry_attributes[key]
                for key in ("email", "phone_number")
                if key in entry_attributes
            },
            pointer,
        )
        if not any(identifiers.values()) and not entry.get("id"):
            raise invalid("Either email or phone number is required.", pointer=pointer)
        channels = entry_attributes["subscriptions"]
        email_marketing = (channels.get("email") or {}).get("marketing")
        sms_marketing = (channels.get("sms") or {}).get("marketing")
        consented_at = None
        for channel, marketing in (("email", email_marketing), ("sms", sms_marketing)):
            if not marketing:
                continue
            field_pointer = f"{pointer}/subscriptions/{channel}/marketing/consented_at"
            raw = marketing.get("consented_at")
            if raw and not historical:
                raise invalid(
                    "consented_at is only allowed with historical_import.", pointer=field_pointer
                )
            if historical:
                if not raw:
                    raise invalid(
                        "consented_at is required with historical_import.", pointer=field_pointer
                    )
                consented_at = datetime.fromisoformat(raw)
                if consented_at > now:
                    raise invalid("consented_at must be in the past.", pointer=field_pointer)
        if email_marketing and not identifiers.get("email") and not entry.get("id"):
            raise invalid("Email marketing consent needs an email.", pointer=f"{pointer}/email")
        profiles.append(
            {
                "id": entry.get("id"),
                "identifiers": identifiers,
                "email_marketing": bool(email_marketing),
                "sms_marketing": bool(sms_marketing),
                "consented_at": consented_at.isoformat() if consented_at else None,
            }
        )

    return SubscriptionJob.objects.using(DATABASE).create(
        id=ids.ulid(now),
        account=account,
        created_at=now,
        ready_at=_ready_at(now),
        payload={
            "list_id": klaviyo_list.id if klaviyo_list else None,
            # The opt-in process is the one in force when the request was accepted.
            "double_opt_in": opt_in == OptInProcess.DOUBLE and not historical,
            "custom_source": attributes.get("custom_source"),
            "profiles": profiles,
        },
    )


def _subscriber(account: Account, entry: dict[str, Any]) -> Profile:
    """The profile an entry names (by id, then by its identifiers), or a new one."""
    matches = _matching_profiles(account, entry["identifiers"])
    profile = None
    if entry["id"]:
        profile = Profile.objects.using(DATABASE).filter(account=account, id=entry["id"]).first()
    if profile is None:
        profile = matches[0] if matches else _new_profile(account)
    others = [other for other in matches if other.pk != profile.pk]
    for name, value in entry["identifiers"].items():
        # Identifiers are unique: one another profile holds stays with it.
        held = any(getattr(other, name) == value for other in others)
        if value and not getattr(profile, name) and not held:
            setattr(profile, name, value)
    return profile


def _subscription_job_apply(job: SubscriptionJob, *, at: datetime) -> None:
    """Single opt-in (or a historical import): consent SUBSCRIBED and list membership at once.

    Double opt-in: the profile waits, pending, until its confirmation (the sandbox UI's
    Confirm button, standing in for the confirmation email) subscribes it. Suppressions
    follow the spec (LIFTED_BY_SUBSCRIBING); an undeliverable address is left out and
    suppressed INVALID_EMAIL.
    """
    account = job.account
    payload = job.payload
    double = payload["double_opt_in"]
    custom_source = payload["custom_source"]
    klaviyo_list = None
    if payload["list_id"]:
        # A list deleted while the job waited: consent still changes, membership cannot.
        klaviyo_list = (
            KlaviyoList.objects.using(DATABASE)
            .filter(account=account, id=payload["list_id"])
            .first()
        )
    for entry in payload["profiles"]:
        profile = _subscriber(account, entry)
        consented_at = (
            datetime.fromisoformat(entry["consented_at"]) if entry["consented_at"] else at
        )
        if entry["email_marketing"] and profile.email:
            if email_undeliverable(profile.email):
                if profile.email_suppression not in KEPT_BY_SUBSCRIBING:
                    _suppress(profile, SuppressionReason.INVALID_EMAIL, at)
                    profile.updated = at
                    profile.save(using=DATABASE)
                continue
            if profile.email_suppression in KEPT_BY_SUBSCRIBING:
                continue  # left out whole: not subscribed, not on the list, nothing changed
            profile.email_suppression = ""
            profile.email_suppressed_at = None
            if double:
                profile.email_custom_method_detail = custom_source
            else:
                _subscribe_email(
                    profile, at=consented_at, custom_source=custom_source, double_optin=False
                )
        if entry["sms_marketing"] and profile.phone_number:
            profile.sms_consent = Consent.SUBSCRIBED
            profile.sms_consent_timestamp = consented_at
        profile.updated = at
        profile.save(using=DATABASE)
        if klaviyo_list is not None:
            _membership_add(
                klaviyo_list=klaviyo_list,
                profile=profile,
                status=MembershipStatus.PENDING if double else MembershipStatus.MEMBER,
            )


def membership_confirm(*, membership: Membership) -> Membership:
    """The profile clicked the double opt-in email's link: subscribed, and now a member."""
    now = clock.now()
    with transaction.atomic(using=DATABASE):
        profile = membership.profile
        _subscribe_email(
            profile,
            at=now,
            custom_source=profile.email_custom_method_detail,
            double_optin=True,
        )
        profile.updated = now
        profile.save(using=DATABASE)
        membership.status = MembershipStatus.MEMBER
        membership.joined_group_at = now
        membership.save(update_fields=["status", "joined_group_at"])
    return membership
