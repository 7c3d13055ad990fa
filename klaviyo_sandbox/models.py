"""The sandbox's state, kept in its own database (see routers.py).

Nothing here points at a product model: the sandbox is another company's system, and the
product knows it only through HTTP. Secrets (authorization codes, access and refresh tokens)
are stored as SHA-256 hashes, as a real authorization server would; the PKCE challenge is
stored as given because it is already a hash.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q


class OptInProcess(models.TextChoices):
    SINGLE = "single_opt_in", "Single opt-in"
    DOUBLE = "double_opt_in", "Double opt-in"


class Consent(models.TextChoices):
    NEVER_SUBSCRIBED = "NEVER_SUBSCRIBED"
    SUBSCRIBED = "SUBSCRIBED"
    UNSUBSCRIBED = "UNSUBSCRIBED"


class SuppressionReason(models.TextChoices):
    """Why a profile cannot get email marketing (the spec's `EmailMarketingSuppression`)."""

    HARD_BOUNCE = "HARD_BOUNCE", "Hard bounce"
    INVALID_EMAIL = "INVALID_EMAIL", "Invalid email"
    SPAM_COMPLAINT = "SPAM_COMPLAINT", "Spam complaint"
    UNSUBSCRIBE = "UNSUBSCRIBE", "Unsubscribed"
    USER_SUPPRESSED = "USER_SUPPRESSED", "Suppressed by a user"


class Account(models.Model):
    """A Klaviyo account (company); its id doubles as the public API key, as in Klaviyo."""

    id = models.CharField(primary_key=True, max_length=6)
    organization_name = models.CharField(max_length=200)
    default_sender_name = models.CharField(max_length=200)
    default_sender_email = models.EmailField()
    website_url = models.URLField(blank=True, default="")
    street_address = models.JSONField(default=dict)
    industry = models.CharField(max_length=100, blank=True, default="")
    timezone = models.CharField(max_length=64, default="US/Eastern")
    preferred_currency = models.CharField(max_length=3, default="USD")
    locale = models.CharField(max_length=16, default="en-US")
    test_account = models.BooleanField(default=False)
    # Used when a subscription names no list (Klaviyo's account-level default).
    default_opt_in_process = models.CharField(
        max_length=20, choices=OptInProcess, default=OptInProcess.SINGLE
    )
    created = models.DateTimeField()

    class Meta:
        ordering = ["organization_name"]

    def __str__(self) -> str:
        return f"{self.organization_name} ({self.id})"


class KlaviyoList(models.Model):
    id = models.CharField(primary_key=True, max_length=6)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="lists")
    name = models.CharField(max_length=255)
    opt_in_process = models.CharField(max_length=20, choices=OptInProcess)
    created = models.DateTimeField()
    updated = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    # Klaviyo tells "never set" (null) from "" in its JSON, so nullable text fields here
    # are deliberate (hence the DJ001 exemptions).
    id = models.CharField(primary_key=True, max_length=26)  # a ULID, as in Klaviyo
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="profiles")
    email = models.CharField(max_length=254, null=True, blank=True)  # noqa: DJ001
    phone_number = models.CharField(max_length=20, null=True, blank=True)  # noqa: DJ001
    external_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    first_name = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    last_name = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    organization = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    locale = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    title = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    image = models.TextField(null=True, blank=True)  # noqa: DJ001
    location = models.JSONField(default=dict)
    properties = models.JSONField(default=dict)
    created = models.DateTimeField()
    updated = models.DateTimeField()
    last_event_date = models.DateTimeField(null=True, blank=True)
    # Email marketing consent, the one channel the product asks for.
    email_consent = models.CharField(
        max_length=20, choices=Consent, default=Consent.NEVER_SUBSCRIBED
    )
    email_consent_timestamp = models.DateTimeField(null=True, blank=True)
    email_consent_last_updated = models.DateTimeField(null=True, blank=True)
    email_consent_method = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    email_consent_method_detail = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    email_custom_method_detail = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    email_double_optin = models.BooleanField(null=True, blank=True)
    # The global email marketing suppression ("" when none): Klaviyo sends a suppressed
    # profile no email marketing, whatever its consent says.
    email_suppression = models.CharField(
        max_length=20, choices=SuppressionReason, blank=True, default=""
    )
    email_suppressed_at = models.DateTimeField(null=True, blank=True)
    sms_consent = models.CharField(max_length=20, choices=Consent, default=Consent.NEVER_SUBSCRIBED)
    sms_consent_timestamp = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "email"],
                condition=Q(email__isnull=False),
                name="sandbox_profile_email_unique",
            ),
            models.UniqueConstraint(
                fields=["account", "phone_number"],
                condition=Q(phone_number__isnull=False),
                name="sandbox_profile_phone_unique",
            ),
            models.UniqueConstraint(
                fields=["account", "external_id"],
                condition=Q(external_id__isnull=False),
                name="sandbox_profile_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.email or self.phone_number or self.external_id or self.id


class MembershipStatus(models.TextChoices):
    MEMBER = "member", "Member"
    # Subscribed to a double opt-in list, waiting for the confirmation click.
    PENDING = "pending", "Pending confirmation"


class Membership(models.Model):
    list = models.ForeignKey(KlaviyoList, on_delete=models.CASCADE, related_name="memberships")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="memberships")
    status = models.CharField(max_length=10, choices=MembershipStatus)
    requested_at = models.DateTimeField()
    joined_group_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["list", "profile"], name="sandbox_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.profile} in {self.list} ({self.status})"


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETE = "complete"
    CANCELLED = "cancelled"


class ImportJob(models.Model):
    """A profile bulk import job: accepted at once, applied when `ready_at` has passed.

    `status` is stored as `queued` until the job is applied, then `complete`; readers see
    `processing` in the second half of the wait (`status_at`).
    """

    id = models.CharField(primary_key=True, max_length=26)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="import_jobs")
    status = models.CharField(max_length=12, choices=JobStatus)
    created_at = models.DateTimeField()
    ready_at = models.DateTimeField()
    # Set, by a conditional UPDATE, by the one process that applies the job.
    processed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True)
    completed_at = models.DateTimeField(null=True)
    expires_at = models.DateTimeField(null=True)
    total_count = models.PositiveIntegerField()
    completed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    list_ids = models.JSONField(default=list)
    # The submitted `profiles.data` entries, applied when the job runs.
    profiles = models.JSONField(default=list)
    profile_ids = models.JSONField(default=list)
    import_errors = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["processed_at", "ready_at"], name="sandbox_import_due")]

    def __str__(self) -> str:
        return self.id

    @property
    def starts_at(self) -> datetime:
        """When the job starts processing: halfway between its creation and `ready_at`."""
        return self.created_at + (self.ready_at - self.created_at) / 2

    def status_at(self, at: datetime) -> str:
        if self.processed_at is not None:
            return self.status
        # A job just accepted always reads `queued`, even with no processing time at all.
        if at > self.created_at and at >= self.starts_at:
            return JobStatus.PROCESSING
        return JobStatus.QUEUED


class SubscriptionJob(models.Model):
    """A bulk subscribe job (Klaviyo answers 202 with no body, so no client ever reads one).

    `payload` holds the request as validated when it was accepted (subscriptions.py), so
    applying it later needs no second validation.
    """

    id = models.CharField(primary_key=True, max_length=26)  # a ULID: creation order
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="subscription_jobs")
    created_at = models.DateTimeField()
    ready_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()

    class Meta:
        indexes = [
            models.Index(fields=["processed_at", "ready_at"], name="sandbox_subscription_due")
        ]

    def __str__(self) -> str:
        return self.id


class Metric(models.Model):
    """An event name, per account and per source: the app that first sent it (Klaviyo keeps
    the same name sent by another app, or with a private key, as another metric)."""

    id = models.CharField(primary_key=True, max_length=6)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="metrics")
    name = models.CharField(max_length=128)
    client_id = models.CharField(max_length=100)  # the OAuth app it is attributed to
    created = models.DateTimeField()
    updated = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name", "client_id"], name="sandbox_metric_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    """One recorded event: a metric, a profile, when, and its properties."""

    id = models.CharField(primary_key=True, max_length=26)  # a ULID: creation order
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="events")
    metric = models.ForeignKey(Metric, on_delete=models.CASCADE, related_name="events")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="events")
    datetime = models.DateTimeField()
    properties = models.JSONField(default=dict)
    value = models.FloatField(null=True, blank=True)
    value_currency = models.CharField(max_length=3, blank=True, default="")
    # The caller's unique_id, or the event's time to the second in epoch seconds when it sent
    # none (Klaviyo's default): one event per metric, profile and unique_id. Handed back
    # among the event's properties as `$event_id`.
    unique_id = models.CharField(max_length=255)
    uuid = models.CharField(max_length=36)
    backfill = models.BooleanField(default=False)
    created = models.DateTimeField()

    class Meta:
        ordering = ["datetime", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "profile", "unique_id"], name="sandbox_event_unique"
            ),
        ]
        indexes = [models.Index(fields=["account", "datetime"], name="sandbox_event_time")]

    def __str__(self) -> str:
        return f"{self.metric} for {self.profile} at {self.datetime:%Y-%m-%d %H:%M:%S}"


class FlowStatus(models.TextChoices):
    LIVE = "live", "Live"
    DRAFT = "draft", "Draft"
    MANUAL = "manual", "Manual"


class Flow(models.Model):
    """An automation an operator builds in the sandbox UI, triggered by one metric and,
    optionally, only for events whose property `filter_property` equals `filter_value`."""

    id = models.CharField(primary_key=True, max_length=6)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="flows")
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=FlowStatus, default=FlowStatus.DRAFT)
    trigger_metric = models.ForeignKey(Metric, on_delete=models.CASCADE, related_name="flows")
    filter_property = models.CharField(max_length=255, blank=True, default="")
    filter_value = models.CharField(max_length=255, blank=True, default="")
    created = models.DateTimeField()
    updated = models.DateTimeField()

    # The spec's `trigger_type` for a metric-triggered flow, the only kind the sandbox plays.
    trigger_type = "Metric"

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class FlowMessage(models.Model):
    """A message a live flow would have sent: its trigger event happened while it was live
    and matched its filter. Nothing is sent; the sandbox only shows it.

    A profile suppressed for email marketing still has its events recorded and still enters
    the flow, but Klaviyo skips the email: `skipped_for` keeps the suppression it had."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="messages")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="flow_messages")
    email = models.CharField(max_length=254, blank=True, default="")  # the profile's, as it was
    at = models.DateTimeField()
    skipped_for = models.CharField(max_length=20, choices=SuppressionReason, blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.flow} to {self.email or self.event.profile_id}"


class EventJob(models.Model):
    """Events accepted (202) by create_event or bulk_create_events, recorded once due.

    `events` holds the checked request, one entry per event with its profile, so applying it
    needs no second validation; `client_id` is the app the metrics are attributed to.
    """

    id = models.CharField(primary_key=True, max_length=26)  # a ULID: creation order
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="event_jobs")
    client_id = models.CharField(max_length=100)
    created_at = models.DateTimeField()
    ready_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    events = models.JSONField()

    class Meta:
        indexes = [models.Index(fields=["processed_at", "ready_at"], name="sandbox_event_job_due")]

    def __str__(self) -> str:
        return self.id


class DeletionJob(models.Model):
    """A data privacy deletion request (request_profile_deletion), accepted with 202 and no
    body, applied once due: the account's profiles whose `identifier` (email, phone_number or
    id) is `value` are deleted with their list memberships, consent and events. The job stays
    as the account's record of the deletion (Klaviyo's Deleted Profiles page)."""

    id = models.CharField(primary_key=True, max_length=26)  # a ULID: creation order
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="deletion_jobs")
    created_at = models.DateTimeField()
    ready_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    identifier = models.CharField(max_length=12)
    value = models.CharField(max_length=255)
    # How many profiles it deleted (none for an address without one); None until applied.
    deleted_count = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["processed_at", "ready_at"], name="sandbox_deletion_due")]

    def __str__(self) -> str:
        return f"deletion of {self.identifier} {self.value}"


class Installation(models.Model):
    """The OAuth app installed in one account; uninstalling kills every token it issued."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="installations")
    client_id = models.CharField(max_length=100)
    scopes = models.TextField()
    installed_at = models.DateTimeField()
    uninstalled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-installed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "client_id"],
                condition=Q(uninstalled_at__isnull=True),
                name="sandbox_one_active_installation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} in {self.account_id}"

    @property
    def is_active(self) -> bool:
        return self.uninstalled_at is None


class AuthorizationCode(models.Model):
    code_hash = models.CharField(max_length=64, unique=True)
    client_id = models.CharField(max_length=100)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.TextField()
    scopes = models.TextField()
    code_challenge = models.CharField(max_length=128)
    code_challenge_method = models.CharField(max_length=10)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.account_id}"


class TokenKind(models.TextChoices):
    ACCESS = "access"
    REFRESH = "refresh"


class Token(models.Model):
    token_hash = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=TokenKind)
    installation = models.ForeignKey(Installation, on_delete=models.CASCADE, related_name="tokens")
    # The code that started this grant, so replaying the code can revoke what it issued.
    code = models.ForeignKey(
        AuthorizationCode, on_delete=models.SET_NULL, null=True, blank=True, related_name="tokens"
    )
    scopes = models.TextField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["installation", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} token of {self.installation}"

    def is_live(self, at: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > at)


class RateCounter(models.Model):
    """Requests in one fixed window for one key, shared by every process through the database."""

    key = models.CharField(max_length=200)
    window = models.PositiveIntegerField()  # window length in seconds
    start = models.BigIntegerField()  # window index: epoch seconds // window
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window", "start"], name="sandbox_rate_window"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.window}s #{self.start}: {self.count}"


class FaultKind(models.TextChoices):
    OUTAGE = "outage", "Outage (503)"
    THROTTLE = "throttle", "429 storm"
    LATENCY = "latency", "Slow responses"


class Fault(models.Model):
    """An injected failure, active until `until`; in the database so every process sees it."""

    kind = models.CharField(max_length=10, choices=FaultKind, unique=True)
    until = models.DateTimeField()
    delay_seconds = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"{self.kind} until {self.until:%H:%M:%S}"


class CallLog(models.Model):
    """One call to the sandbox's OAuth or API endpoints. Never a token, a body or a query."""

    created_at = models.DateTimeField(db_index=True)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)  # relative to the sandbox root, e.g. /api/lists/
    operation = models.CharField(max_length=100, blank=True, default="")
    status = models.PositiveSmallIntegerField()
    duration_ms = models.PositiveIntegerField()
    account_id = models.CharField(max_length=6, blank=True, default="")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"
