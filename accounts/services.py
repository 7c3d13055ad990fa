"""Accounts business logic: every write to users, organizations, memberships and invites.

Views call these functions and translate their exceptions into messages; nothing else
changes a role or a membership.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.deletion import account_deletion_plan, organization_parts
from accounts.models import (
    MANAGER_ROLES,
    ApiToken,
    Invite,
    Membership,
    Organization,
    Role,
    User,
    normalize_email,
    validate_reminder_hours,
)
from accounts.origins import validate_origins
from accounts.signals import organization_schedule_changed
from accounts.timezones import DEFAULT_TIME_ZONE, validate_time_zone

logger = logging.getLogger(__name__)


class MembershipError(Exception):
    """A membership change that the organization's rules forbid (the message says why)."""


class AccountDeletionRefused(Exception):
    """Deleting this account would leave organizations with members and no owner."""

    def __init__(self, organizations: list[Organization]) -> None:
        super().__init__("The only owner of organizations with other members.")
        self.organizations = organizations


class InviteError(Exception):
    """An invite link that cannot be used; `reason` is one of the class constants."""

    EXPIRED = "expired"
    USED = "used"
    REVOKED = "revoked"
    FOREIGN = "foreign"
    UNKNOWN = "unknown"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- Sign-up and organizations ----------------------------------------------------------------


@transaction.atomic
def user_signup(
    *, email: str, password: str, organization_name: str, time_zone: str = DEFAULT_TIME_ZONE
) -> User:
    """Create a user and their organization, owned by them, all or nothing."""
    user = User.objects.create_user(email=email, password=password)
    organization_create(owner=user, name=organization_name, time_zone=time_zone)
    return user


@transaction.atomic
def user_signup_with_invite(*, email: str, password: str, invite: Invite) -> User:
    """Create a user who joins the inviting organization instead of creating one."""
    user = User.objects.create_user(email=email, password=password)
    invite_accept(invite=invite, user=user)
    return user


@transaction.atomic
def organization_create(
    *, owner: User, name: str, time_zone: str = DEFAULT_TIME_ZONE
) -> Organization:
    validate_time_zone(time_zone)
    organization = Organization.objects.create(name=name.strip(), time_zone=time_zone)
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    return organization


def organization_update(
    *,
    organization: Organization,
    actor: Membership,
    name: str,
    time_zone: str,
    reminder_hours: list[int] | None = None,
    marketing_consent_text: str | None = None,
    klaviyo_deletion_enabled: bool | None = None,
    embed_origins: list[str] | None = None,
) -> Organization:
    """Rename the organization, change its time zone, its default reminder lead times, its
    signup forms' marketing consent wording, the sites that may embed its signup forms
    (accounts.origins, normalized) or whether erasing a person also asks Klaviyo to delete
    their profile (None: unchanged), for owners and admins; only an owner turns that last one
    on or off.

    Stored times are instants, so a new zone shows each party at the same moment in the new
    zone's local time. Reminders are reckoned in the zone's wall clock and from the lead
    times, so either change moves the reminders not sent yet (`organization_schedule_changed`).
    """
    if not actor.can_manage or actor.organization_id != organization.pk:
        raise PermissionDenied("Only owners and admins change the organization's settings.")
    deletion_changes = (
        klaviyo_deletion_enabled is not None
        and klaviyo_deletion_enabled != organization.klaviyo_deletion_enabled
    )
    if deletion_changes and actor.role != Role.OWNER:
        # It deletes people from the whole Klaviyo account: the owners' decision alone.
        raise PermissionDenied("Only owners turn Klaviyo deletion on or off.")
    validate_time_zone(time_zone)
    if reminder_hours is not None:
        validate_reminder_hours(reminder_hours)
    if embed_origins is not None:
        validate_origins(embed_origins)
    moves_reminders = time_zone != organization.time_zone or (
        reminder_hours is not None and reminder_hours != organization.reminder_hours
    )
    organization.name = name.strip()
    organization.time_zone = time_zone
    fields = ["name", "time_zone"]
    if reminder_hours is not None:
        organization.reminder_hours = reminder_hours
        fields.append("reminder_hours")
    if marketing_consent_text is not None:
        # The forms show it as a new version from their next visit (parties.services).
        organization.marketing_consent_text = marketing_consent_text.strip()
        fields.append("marketing_consent_text")
    if embed_origins is not None:
        organization.embed_origins = embed_origins
        fields.append("embed_origins")
    if deletion_changes:
        organization.klaviyo_deletion_enabled = bool(klaviyo_deletion_enabled)
        fields.append("klaviyo_deletion_enabled")
    with transaction.atomic():
        organization.save(update_fields=fields)
        if moves_reminders:
            transaction.on_commit(
                lambda: organization_schedule_changed.send(
                    sender=Organization, organization=organization
                )
            )
    return organization


def organization_retention_set(
    *, organization: Organization, actor: Membership, days: int | None
) -> Organization:
    """How many days attendees' details are kept after their party ends (None: until someone
    erases them); the privacy app's periodic pass applies it. Owners and admins."""
    if not actor.can_manage or actor.organization_id != organization.pk:
        raise PermissionDenied("Only owners and admins change the organization's settings.")
    if days is not None and not 1 <= days <= 3650:
        raise ValidationError("Keep attendees' details between 1 and 3650 days, or always.")
    organization.attendee_retention_days = days
    organization.save(update_fields=["attendee_retention_days"])
    return organization


# --- Invites ------------------------------------------------------------------------------------


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_create(
    *, organization: Organization, email: str, role: str, invited_by: Membership
) -> tuple[Invite, str]:
    """Create an invite and return it with the raw token for the link (shown nowhere else).

    Admins may invite members and admins; only owners may invite owners.
    """
    _ensure_may_grant(actor=invited_by, role=role)
    token = secrets.token_urlsafe(32)
    invite = Invite.objects.create(
        organization=organization,
        email=normalize_email(email),
        role=role,
        token_hash=_token_digest(token),
        invited_by=invited_by.user,
        expires_at=timezone.now() + timedelta(days=settings.INVITE_MAX_AGE_DAYS),
    )
    return invite, token


def invite_send_email(*, invite: Invite, accept_url: str) -> None:
    """Email the invite link; the raw token lives only in this email and the creator's page."""
    context = {"invite": invite, "accept_url": accept_url}
    send_mail(
        subject=render_to_string("accounts/email/invite_subject.txt", context).strip(),
        message=render_to_string("accounts/email/invite_body.txt", context),
        from_email=None,
        recipient_list=[invite.email],
    )
    invite.sent_at = timezone.now()
    invite.save(update_fields=["sent_at"])


def invite_get_by_token(*, token: str) -> Invite:
    """The invite a link points to, or InviteError(UNKNOWN)."""
    invite = (
        Invite.objects.select_related("organization", "invited_by")
        .filter(token_hash=_token_digest(token))
        .first()
    )
    if invite is None:
        raise InviteError(InviteError.UNKNOWN)
    return invite


def invite_check_usable(*, invite: Invite, email: str | None = None) -> None:
    """Raise InviteError unless the invite can still be accepted (by `email`, if given)."""
    if invite.accepted_at is not None:
        raise InviteError(InviteError.USED)
    if invite.revoked_at is not None:
        raise InviteError(InviteError.REVOKED)
    if invite.is_expired:
        raise InviteError(InviteError.EXPIRED)
    if email is not None and normalize_email(email) != invite.email:
        raise InviteError(InviteError.FOREIGN)


@transaction.atomic
def invite_accept(*, invite: Invite, user: User) -> Membership:
    """Join the invite's organization with its role; the invite is used up.

    The row is locked so two tabs accepting the same link cannot both succeed. A user who is
    already a member keeps their current role (an invite never demotes).
    """
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    invite_check_usable(invite=invite, email=user.email)
    membership, _created = Membership.objects.get_or_create(
        user=user, organization_id=invite.organization_id, defaults={"role": invite.role}
    )
    invite.accepted_at = timezone.now()
    invite.accepted_by = user
    invite.save(update_fields=["accepted_at", "accepted_by"])
    return membership


def invite_revoke(*, invite: Invite, actor: Membership) -> None:
    _ensure_may_grant(actor=actor, role=invite.role)
    if invite.accepted_at is not None:
        raise MembershipError("This invite has already been accepted.")
    invite.revoked_at = timezone.now()
    invite.save(update_fields=["revoked_at"])


# --- Roles and removal ---------------------------------------------------------------------------


def may_manage_role(*, actor: Membership, role: str) -> bool:
    """Owners manage everyone; admins manage members and admins but never owners."""
    if actor.role not in MANAGER_ROLES:
        return False
    return role != Role.OWNER or actor.role == Role.OWNER


def _ensure_may_grant(*, actor: Membership, role: str) -> None:
    if not may_manage_role(actor=actor, role=role):
        raise PermissionDenied("Only owners manage owners; only owners and admins manage members.")


def _lock_owner_count(organization_id: int) -> int:
    # Lock the owner rows so two concurrent demotions cannot both pass the last-owner check.
    owners = Membership.objects.select_for_update().filter(
        organization_id=organization_id, role=Role.OWNER
    )
    return len(list(owners.values_list("pk", flat=True)))


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, actor: Membership) -> Membership:
    if role not in Role.values:
        raise MembershipError("Choose owner, admin or member.")
    _ensure_may_grant(actor=actor, role=membership.role)
    _ensure_may_grant(actor=actor, role=role)
    demoting_owner = membership.role == Role.OWNER and role != Role.OWNER
    if demoting_owner and _lock_owner_count(membership.organization_id) <= 1:
        raise MembershipError(
            "An organization needs at least one owner: make someone else owner first."
        )
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


def membership_is_last_owner(*, membership: Membership) -> bool:
    """Whether this is the organization's only owner, who can neither leave nor be removed."""
    return (
        membership.role == Role.OWNER
        and not Membership.objects.filter(
            organization_id=membership.organization_id, role=Role.OWNER
        )
        .exclude(pk=membership.pk)
        .exists()
    )


LAST_OWNER_CANNOT_LEAVE = (
    "You are the only owner, so you cannot leave: make someone else owner first "
    "(or ask them to), then leave."
)


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Membership) -> None:
    """Remove someone from the organization (anyone may also leave by removing themselves)."""
    leaving = membership.pk == actor.pk
    if not leaving:
        _ensure_may_grant(actor=actor, role=membership.role)
    if membership.role == Role.OWNER and _lock_owner_count(membership.organization_id) <= 1:
        raise MembershipError(
            LAST_OWNER_CANNOT_LEAVE
            if leaving
            else "The last owner cannot be removed: make someone else owner first."
        )
    membership.delete()


# --- Personal API tokens -------------------------------------------------------------------------


def api_token_create(*, membership: Membership, name: str) -> tuple[ApiToken, str]:
    """Create a token for the member's JSON API use; the raw token is returned only here."""
    raw = ApiToken.PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=membership.user,
        organization=membership.organization,
        name=name.strip(),
        token_hash=_token_digest(raw),
        hint=raw[: len(ApiToken.PREFIX) + 6],
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])


def api_token_authenticate(*, raw: str) -> Membership | None:
    """The membership a bearer token acts through, or None if it is unknown or revoked."""
    token = (
        ApiToken.objects.active()
        .select_related("user", "organization")
        .filter(token_hash=_token_digest(raw))
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    membership = (
        Membership.objects.select_related("organization", "user")
        .filter(user=token.user, organization=token.organization)
        .first()
    )
    if membership is not None:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return membership


# --- Leaving: deleting an organization or an account -------------------------------------------


def organization_delete(*, organization: Organization, actor: Membership) -> dict[str, int]:
    """Delete the organization and everything it holds, for its owners: one transaction.

    Its members are detached (their accounts and other organizations stay). Each registered
    part releases its rows first (`accounts.deletion`: the parties go, each Klaviyo
    connection's revoke is queued, run by a worker after commit); the rest cascades from the
    organization's row. Returns the rows deleted by model label; the log has the
    organization's id and those counts, nothing about anyone.
    """
    with transaction.atomic():
        # The organization's row, then the actor's membership, locked: two owners deleting at
        # once delete once, and a demotion cannot let a former owner through.
        list(Organization.objects.select_for_update().filter(pk=organization.pk))
        still_owner = (
            Membership.objects.select_for_update()
            .filter(pk=actor.pk, organization=organization, role=Role.OWNER)
            .first()
        )
        if still_owner is None:
            raise PermissionDenied("Only owners delete the organization.")
        return _organization_delete(organization)


def _organization_delete(organization: Organization) -> dict[str, int]:
    """The deletion itself, inside the caller's transaction, whoever asked."""
    organization_id = organization.pk
    deleted: Counter[str] = Counter()
    for part in organization_parts():
        deleted.update(part.release(organization))
    _total, cascaded = organization.delete()
    deleted.update(cascaded)
    logger.info(
        "Deleted organization %s: %s",
        organization_id,
        ", ".join(f"{label} {count}" for label, count in sorted(deleted.items()) if count),
    )
    return dict(deleted)


@transaction.atomic
def user_delete(*, user: User) -> list[int]:
    """Delete a user's account, and the organizations they are the only member of.

    Refused (AccountDeletionRefused) while they are the only owner of an organization with
    other members. Pending invites they sent go (an invite outlives its sender otherwise);
    their memberships, API tokens and connect attempts go with the user row, and rows that
    name them as author (a party's creator, an audit event's actor) keep the row without them.
    Returns the ids of the organizations deleted with the account.
    """
    # Their organizations locked: nobody joins, leaves or changes role while this decides.
    list(Organization.objects.select_for_update().filter(memberships__user=user))
    plan = account_deletion_plan(user=user)
    if plan.blocked_by:
        raise AccountDeletionRefused(plan.blocked_by)
    deleted = [organization.pk for organization, _contents in plan.deleted]
    for organization, _contents in plan.deleted:
        _organization_delete(organization)
    Invite.objects.pending().filter(invited_by=user).delete()
    user_id = user.pk
    user.delete()
    logger.info("Deleted user %s with organizations %s", user_id, deleted or "none")
    return deleted
