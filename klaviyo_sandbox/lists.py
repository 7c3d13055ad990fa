"""Lists, and a profile's membership of one."""

from __future__ import annotations

from typing import Any

from klaviyo_sandbox import clock, ids
from klaviyo_sandbox.jsonapi import invalid, not_found
from klaviyo_sandbox.models import Account, KlaviyoList, Membership, MembershipStatus, Profile
from klaviyo_sandbox.routers import DATABASE

# "This endpoint accepts a maximum of 1000 profiles per call" (remove_profiles_from_list).
REMOVE_MAX_PROFILES = 1_000


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


def membership_add(*, klaviyo_list: KlaviyoList, profile: Profile, status: str) -> Membership:
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


def memberships_remove(*, klaviyo_list: KlaviyoList, profile_ids: list[str]) -> int:
    """DELETE /api/lists/{id}/relationships/profiles: the profiles leave this one list (a
    pending double opt-in request too). Their consent, suppressions and other lists are
    untouched, as the spec says ("will not impact the profile's consent status"). Ids that
    are not members (or not profiles) are passed over: removing is idempotent, and the spec
    documents no error for them. How many memberships it removed."""
    if len(profile_ids) > REMOVE_MAX_PROFILES:
        raise invalid(
            f"At most {REMOVE_MAX_PROFILES} profiles can be removed from a list in one request.",
            pointer="/data",
        )
    removed, _ = (
        Membership.objects.using(DATABASE)
        .filter(list=klaviyo_list, profile_id__in=profile_ids)
        .delete()
    )
    return removed
