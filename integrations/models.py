from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from integrations.fields import EncryptedSecretField

# Klaviyo's documented maximum lengths (its OAuth guide): store in text columns sized for them.
ACCESS_TOKEN_MAX_LENGTH = 4096
REFRESH_TOKEN_MAX_LENGTH = 512


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
    REVOKED = "revoked", "Disconnected"


class KlaviyoConnection(models.Model):
    """One organization's OAuth installation on one Klaviyo account.

    Tokens are encrypted at rest and change only through `integrations.tokens` (refresh) and
    `integrations.services` (connect, disconnect). Reconnecting the same Klaviyo account
    updates this row, so its id (and every party pointing at it) stays.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="klaviyo_connections"
    )
    klaviyo_account_id = models.CharField(max_length=64)
    public_api_key = models.CharField(max_length=64, blank=True)
    klaviyo_organization_name = models.CharField(max_length=255, blank=True)
    label = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=20, choices=ConnectionStatus, default=ConnectionStatus.ACTIVE
    )
    scopes = models.JSONField(default=list, blank=True)

    access_token = EncryptedSecretField(null=True, blank=True, max_length=ACCESS_TOKEN_MAX_LENGTH)
    refresh_token = EncryptedSecretField(null=True, blank=True, max_length=REFRESH_TOKEN_MAX_LENGTH)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)

    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connected_at = models.DateTimeField(default=timezone.now)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_successful_call_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    # The single-flight refresh lease (see integrations.tokens): who holds it, until when.
    refresh_lease_holder = models.CharField(max_length=64, blank=True)
    refresh_lease_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "klaviyo_account_id"],
                condition=~Q(status=ConnectionStatus.REVOKED),
                name="integrations_one_live_connection_per_account",
            ),
        ]
        ordering = ["klaviyo_organization_name", "pk"]

    def __str__(self) -> str:
        name = self.klaviyo_organization_name or self.klaviyo_account_id
        return f"{name} ({self.label})" if self.label else name

    @property
    def display_name(self) -> str:
        return str(self)

    @property
    def is_active(self) -> bool:
        return self.status == ConnectionStatus.ACTIVE

    @property
    def has_access_token(self) -> bool:
        return self.access_token is not None

    @property
    def has_refresh_token(self) -> bool:
        return self.refresh_token is not None

    def access_token_expires_within(self, seconds: float) -> bool:
        if self.access_token_expires_at is None:
            return True
        return self.access_token_expires_at <= timezone.now() + timedelta(seconds=seconds)


class OAuthStateQuerySet(models.QuerySet["OAuthState"]):
    def expired(self) -> OAuthStateQuerySet:
        return self.filter(expires_at__lte=timezone.now())


class OAuthState(models.Model):
    """One connect attempt: the `state` sent to Klaviyo and the PKCE verifier kept for it.

    Bound to the user, the organization and the browser session that started it (through a
    random nonce kept in that session); single-use; lives ten minutes.
    """

    LIFETIME = timedelta(minutes=10)

    state = models.CharField(max_length=128, unique=True)
    code_verifier = EncryptedSecretField()
    browser_nonce = models.CharField(max_length=128)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=100, blank=True)
    reconnect = models.ForeignKey(
        KlaviyoConnection, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    redirect_uri = models.URLField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    objects = OAuthStateQuerySet.as_manager()

    class Meta:
        verbose_name = "OAuth state"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Connect attempt by {self.user_id} for {self.organization_id}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class EventKind(models.TextChoices):
    CONNECTED = "connected", "Connected"
    RECONNECTED = "reconnected", "Reconnected"
    REFRESHED = "refreshed", "Token refreshed"
    REFRESH_FAILED = "refresh_failed", "Token refresh failed"
    NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
    DISCONNECTED = "disconnected", "Disconnected"
    REVOKE_FAILED = "revoke_failed", "Revoke not confirmed"


class ConnectionEvent(models.Model):
    """The audit trail of a connection. Reasons are short and never hold a secret."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        KlaviyoConnection, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=20, choices=EventKind)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class RateWindow(models.Model):
    """The calls counted against one of Klaviyo's rate-limit windows, for one operation of
    one Klaviyo account (see integrations.budgets).

    Counted before each call is sent, by every web process and worker alike, so they share
    one budget per Klaviyo account as they share its quota. Closed windows are deleted.
    """

    account_id = models.CharField(max_length=64)  # Klaviyo's account id
    operation = models.CharField(max_length=64)  # Klaviyo's operationId
    seconds = models.PositiveIntegerField()  # the window's length: 1, 60 or 86,400
    start = models.BigIntegerField()  # when it opens, in seconds since the epoch (UTC)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "operation", "seconds", "start"],
                name="integrations_one_rate_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation} for {self.account_id}: {self.count} in {self.seconds}s"
