"""What the sandbox's REST endpoints and UI do to its data: lists, profiles, imports, consent.

Bodies arrive already validated against the OpenAPI request schema (spec.py); the rules here
are the ones a schema cannot say (an identifier is required, emails are emails, identifiers
are unique, the 1,000-profile cap). Failures raise `ApiError` with Klaviyo's code and pointer.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

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


# --- Bulk import ----------------------------------------------------------------------------


def bulk_import(*, account: Account, data: dict[str, Any]) -> ImportJob:
    """POST /api/profile-bulk-import-jobs, processed now: the job reads back `complete`."""
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
    job = ImportJob(
        id=ids.ulid(now),
        account=account,
        status=JobStatus.COMPLETE,
        created_at=now,
        started_at=now,
        total_count=len(entries),
        list_ids=[klaviyo_list.id for klaviyo_list in lists],
        expires_at=now + timedelta(days=7),
    )
    profile_ids: list[str] = []
    with transaction.atomic(using=DATABASE):
        for index, entry in enumerate(entries):
            pointer = f"/data/attributes/profiles/data/{index}"
            try:
                profile, _ = profile_upsert(account=account, data=entry, pointer=pointer)
            except ApiError as error:
                job.failed_count += 1
                job.import_errors.append(
                    {
                        "code": error.code,
                        "title": error.title,
                        "detail": error.detail,
                        "source": {"pointer": error.pointer or pointer},
                    }
                )
                continue
            job.completed_count += 1
            profile_ids.append(profile.id)
            for klaviyo_list in lists:
                # Imports add to a list without touching consent, double opt-in or not.
                _membership_add(
                    klaviyo_list=klaviyo_list, profile=profile, status=MembershipStatus.MEMBER
                )
        job.profile_ids = profile_ids
        job.completed_at = clock.now()
        job.save(using=DATABASE)
    return job


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


def subscribe(*, account: Account, data: dict[str, Any]) -> None:
    """POST /api/profile-subscription-bulk-create-jobs, processed now (Klaviyo: 202, async).

    Single opt-in (or a historical import): consent SUBSCRIBED and list membership at once.
    Double opt-in: the profile waits, pending, until its confirmation (the sandbox UI's
    Confirm button, standing in for the confirmation email) subscribes it.
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
    custom_source = attributes.get("custom_source")
    list_ref = ((data.get("relationships") or {}).get("list") or {}).get("data")
    klaviyo_list = None
    if list_ref:
        try:
            klaviyo_list = list_get(account=account, list_id=list_ref["id"])
        except ApiError as error:
            error.pointer = "/data/relationships/list/data/id"
            raise
    opt_in = klaviyo_list.opt_in_process if klaviyo_list else account.default_opt_in_process
    double = opt_in == OptInProcess.DOUBLE and not historical
    now = clock.now()

    # Validate every entry before changing anything, as one request either works or fails.
    plans = []
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
        plans.append((entry, identifiers, email_marketing, sms_marketing, consented_at))

    with transaction.atomic(using=DATABASE):
        for entry, identifiers, email_marketing, sms_marketing, consented_at in plans:
            profile = None
            if entry.get("id"):
                profile = (
                    Profile.objects.using(DATABASE).filter(account=account, id=entry["id"]).first()
                )
            if profile is None:
                matches = _matching_profiles(account, identifiers)
                profile = matches[0] if matches else _new_profile(account)
            for name, value in identifiers.items():
                if value and not getattr(profile, name):
                    setattr(profile, name, value)
            if email_marketing and profile.email:
                if double:
                    profile.email_custom_method_detail = custom_source
                else:
                    _subscribe_email(
                        profile,
                        at=consented_at or now,
                        custom_source=custom_source,
                        double_optin=False,
                    )
            if sms_marketing and profile.phone_number:
                profile.sms_consent = Consent.SUBSCRIBED
                profile.sms_consent_timestamp = consented_at or now
            profile.updated = now
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
