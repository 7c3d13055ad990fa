from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Organization
from integrations.models import KlaviyoConnection


def new_public_slug() -> str:
    """An unguessable public id for the signup page (96 random bits)."""
    return secrets.token_urlsafe(12)


class ListState(models.TextChoices):
    PENDING = "pending", "Being created"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Party(models.Model):
    """An event whose public signup form feeds a Klaviyo list through one connection."""

    NAME_MAX_LENGTH = 100

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="parties")
    connection = models.ForeignKey(
        KlaviyoConnection, on_delete=models.PROTECT, related_name="parties"
    )
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    starts_at = models.DateTimeField()
    address = models.CharField(max_length=200)
    address2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    slug = models.CharField(max_length=32, unique=True, default=new_public_slug, editable=False)

    klaviyo_list_id = models.CharField(max_length=64, blank=True)
    list_state = models.CharField(
        max_length=16, choices=ListState.choices, default=ListState.PENDING
    )
    list_error = models.CharField(max_length=500, blank=True)
    # The list name Klaviyo has; differs from `name` while a rename waits to be sent.
    klaviyo_list_name = models.CharField(max_length=NAME_MAX_LENGTH, blank=True)

    signups_open = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Sync coalescing (see parties.services.party_request_sync): when the next sync task is
    # due (None: none planned), so signups and retries schedule one task, not one each; the
    # sync runs under a lease so two workers never sync one party at once.
    next_sync_at = models.DateTimeField(null=True, blank=True)
    sync_lease_holder = models.CharField(max_length=64, blank=True)
    sync_lease_expires_at = models.DateTimeField(null=True, blank=True)
    sync_failures = models.PositiveIntegerField(default=0)
    sync_paused_reason = models.CharField(max_length=255, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at", "-pk"]
        verbose_name_plural = "parties"

    def __str__(self) -> str:
        return self.name


class SyncState(models.TextChoices):
    PENDING = "pending", "Waiting to sync"
    SYNCING = "syncing", "Syncing"
    SYNCED = "synced", "In Klaviyo"
    FAILED = "failed", "Failed"


class Attendee(models.Model):
    """A signup: saved the moment it is accepted, then relayed to Klaviyo (the outbox row)."""

    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="attendees")
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    pet_name = models.CharField(max_length=100, blank=True)
    pet_type = models.CharField(max_length=50, blank=True)
    consented_at = models.DateTimeField()
    consent_source = models.CharField(max_length=255)

    sync_state = models.CharField(
        max_length=16, choices=SyncState.choices, default=SyncState.PENDING, db_index=True
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    klaviyo_profile_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["party", "email"], name="parties_one_signup_per_email"),
        ]
        indexes = [
            models.Index(
                fields=["party", "sync_state", "id"],
                name="parties_attendee_outbox",
                condition=Q(sync_state__in=["pending", "syncing"]),
            ),
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.email} at {self.party}"
