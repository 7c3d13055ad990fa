"""Consent: bulk subscribe jobs (checked when they arrive, applied later) and the double
opt-in confirmation that makes a pending profile a subscribed member."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from klaviyo_sandbox import clock, ids
from klaviyo_sandbox.jsonapi import ApiError, invalid
from klaviyo_sandbox.lists import list_get, membership_add
from klaviyo_sandbox.models import (
    Account,
    Consent,
    KlaviyoList,
    Membership,
    MembershipStatus,
    OptInProcess,
    Profile,
    SubscriptionJob,
    SuppressionReason,
)
from klaviyo_sandbox.profiles import checked_identifiers, matching_profiles, new_profile
from klaviyo_sandbox.routers import DATABASE
from klaviyo_sandbox.suppression import KEPT_BY_SUBSCRIBING, email_undeliverable, suppress

SUBSCRIBE_MAX_PROFILES = 1_000


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
    fails; what is stored is the checked request, which `subscription_job_apply` applies.
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
        identifiers = checked_identifiers(
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
        ready_at=clock.job_ready_at(now),
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
    matches = matching_profiles(account, entry["identifiers"])
    profile = None
    if entry["id"]:
        profile = Profile.objects.using(DATABASE).filter(account=account, id=entry["id"]).first()
    if profile is None:
        profile = matches[0] if matches else new_profile(account)
    others = [other for other in matches if other.pk != profile.pk]
    for name, value in entry["identifiers"].items():
        # Identifiers are unique: one another profile holds stays with it.
        held = any(getattr(other, name) == value for other in others)
        if value and not getattr(profile, name) and not held:
            setattr(profile, name, value)
    return profile


def subscription_job_apply(job: SubscriptionJob, *, at: datetime) -> None:
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
                    suppress(profile, SuppressionReason.INVALID_EMAIL, at)
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
            membership_add(
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
