"""Undeliverable addresses and email marketing suppressions: set, lifted, listed."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from klaviyo_sandbox import clock
from klaviyo_sandbox.jsonapi import invalid
from klaviyo_sandbox.models import Account, Consent, Profile, SuppressionReason
from klaviyo_sandbox.profiles import EMAIL, checked_identifiers, new_profile
from klaviyo_sandbox.routers import DATABASE

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
    return bool(EMAIL.match(email)) and email.rsplit(".", 1)[-1] == UNDELIVERABLE_TLD


def suppress(profile: Profile, reason: str, at: datetime) -> None:
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
    identifiers = checked_identifiers({"email": email}, "/email")
    if not identifiers.get("email"):
        raise invalid("An email address is required.", pointer="/email")
    now = clock.now()
    with transaction.atomic(using=DATABASE):
        profile = (
            Profile.objects.using(DATABASE)
            .filter(account=account, email=identifiers["email"])
            .first()
        ) or new_profile(account)
        profile.email = identifiers["email"]
        suppress(profile, reason, now)
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
