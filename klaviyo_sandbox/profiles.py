"""Profiles: identifiers checked and unique, attributes set as Klaviyo sets them.

Bodies arrive already validated against the OpenAPI request schema (spec.py); the rules here
are the ones a schema cannot say (an identifier is required, emails are emails, identifiers
are unique). Failures raise `ApiError` with Klaviyo's code and pointer.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.db.models import Q

from klaviyo_sandbox import clock, ids
from klaviyo_sandbox.jsonapi import ApiError, invalid, not_found
from klaviyo_sandbox.models import Account, Profile
from klaviyo_sandbox.routers import DATABASE

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
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def checked_identifiers(attributes: dict[str, Any], pointer: str) -> dict[str, str | None]:
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
            if not EMAIL.match(value):
                raise invalid(f"Invalid email address: {value!r}.", pointer=f"{pointer}/email")
        if name == "phone_number" and not _E164.match(value):
            raise invalid(
                f"Invalid phone number {value!r}: use E.164, such as +15005550006.",
                pointer=f"{pointer}/phone_number",
            )
        found[name] = value
    return found


def matching_profiles(account: Account, identifiers: dict[str, str | None]) -> list[Profile]:
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


def new_profile(account: Account) -> Profile:
    now = clock.now()
    return Profile(id=ids.ulid(now), account=account, created=now, updated=now)


def profile_create(*, account: Account, attributes: dict[str, Any]) -> Profile:
    """POST /api/profiles: 409 duplicate_profile if any identifier is taken."""
    pointer = "/data/attributes"
    identifiers = checked_identifiers(attributes, pointer)
    if not any(identifiers.values()):
        raise invalid("One of email, phone_number or external_id is required.", pointer=pointer)
    with transaction.atomic(using=DATABASE):
        existing = matching_profiles(account, identifiers)
        if existing:
            raise _duplicate(existing[0], pointer)
        profile = new_profile(account)
        _apply_attributes(profile, {**attributes, **identifiers})
        profile.save(using=DATABASE)
    return profile


def profile_upsert(
    *, account: Account, data: dict[str, Any], pointer: str = "/data"
) -> tuple[Profile, bool]:
    """POST /api/profile-import (and each profile of a bulk import): (profile, created)."""
    attributes = data.get("attributes") or {}
    identifiers = checked_identifiers(attributes, f"{pointer}/attributes")
    with transaction.atomic(using=DATABASE):
        if data.get("id"):
            profile = Profile.objects.using(DATABASE).filter(account=account, id=data["id"]).first()
            if profile is None:
                raise not_found(
                    f"A profile with id {data['id']} does not exist.", pointer=f"{pointer}/id"
                )
            others = [p for p in matching_profiles(account, identifiers) if p.pk != profile.pk]
            if others:
                raise _duplicate(others[0], f"{pointer}/attributes")
        else:
            if not any(identifiers.values()):
                raise invalid(
                    "One of email, phone_number or external_id is required.",
                    pointer=f"{pointer}/attributes",
                )
            matches = matching_profiles(account, identifiers)
            if len(matches) > 1:
                # The identifiers belong to different profiles (node-sdk #75).
                raise _duplicate(matches[0], f"{pointer}/attributes")
            profile = matches[0] if matches else None
        created = profile is None
        if profile is None:
            profile = new_profile(account)
        _apply_attributes(profile, {**attributes, **identifiers})
        _apply_patch_properties(profile, data.get("meta"))
        profile.updated = clock.now()
        profile.save(using=DATABASE)
    return profile, created
