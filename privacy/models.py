"""The audit of personal-data requests: who asked for what, when, and how much it touched,
never whose data (a keyed hash of the address recognises a repeated request)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Organization
from integrations.fields import EncryptedSecretField
from integrations.models import KlaviyoConnection


class RequestKind(models.TextChoices):
    ERASURE = "erasure", "Erasure"
    SELF_ERASURE = "self_erasure", "Erasure by the attendee"
    RETENTION = "retention", "Erasure by the retention limit"
    EXPORT = "export", "Export"
    SELF_EXPORT = "self_export", "Export by the attendee"
    KLAVIYO_DELETION = "klaviyo_deletion", "Deletion requested at Klaviyo"


class PrivacyRecord(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="privacy_records"
    )
    kind = models.CharField(max_length=24, choices=RequestKind)
    # The organizer who asked (None: the attendee, or the retention limit).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # How many registrations (or, for retention, how many parties' attendees) it touched.
    records = models.PositiveIntegerField(default=0)
    # `privacy.services.email_digest`: the same address in the same organization gives the
    # same digest; the address cannot be read back from it.
    email_digest = models.CharField(max_length=64, blank=True, db_index=True)
    # What else a person should know ("3 Klaviyo accounts asked", "party 12").
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} in {self.organization_id} at {self.created_at}"


class KlaviyoDeletion(models.Model):
    """An erased person's deletion asked of one Klaviyo account (`POST
    /api/data-privacy-deletion-jobs`), sent by a task. Klaviyo runs it later and has no status
    to read: `sent_at` is when Klaviyo accepted it. The address is kept, encrypted, only until
    then (or until Partyline gives up), so a queued task never carries it."""

    record = models.ForeignKey(PrivacyRecord, on_delete=models.CASCADE, related_name="deletions")
    connection = models.ForeignKey(KlaviyoConnection, on_delete=models.CASCADE, related_name="+")
    email = EncryptedSecretField(null=True, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Why it could not be sent, in words an owner can act on ("" while it waits or once sent).
    error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"Klaviyo deletion {self.pk} ({'sent' if self.sent_at else 'waiting'})"
