from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.origins import validate_origins
from accounts.timezones import DEFAULT_TIME_ZONE, validate_time_zone


def normalize_email(email: str) -> str:
    """The one spelling of an address we store and compare: trimmed and lower-cased."""
    return email.strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields: object) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields: object) -> User:
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(
        self, email: str, password: str | None = None, **extra_fields: object
    ) -> User:
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username: str | None) -> User:
        # Login is by email, whatever its case.
        return self.get(email=normalize_email(username or ""))


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with their email address."""

    email = models.EmailField("email address", max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Can log into the operator admin site.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


def default_reminder_hours() -> list[int]:
    """A day before, and two hours before."""
    return [24, 2]


# Reminders further ahead than two weeks make no sense (and keep a typo from planning a year);
# the schedule ignores any beyond it (parties.events.schedule.MAX_LEAD_HOURS).
REMINDER_HOURS_MAX = 24 * 14


def validate_reminder_hours(hours: list[int]) -> None:
    """Reminder lead times as stored: distinct whole hours from 1 to REMINDER_HOURS_MAX."""
    if not isinstance(hours, list) or not all(
        isinstance(h, int) and not isinstance(h, bool) for h in hours
    ):
        raise ValidationError("Reminder lead times are a list of whole hours.")
    if len(set(hours)) != len(hours):
        raise ValidationError("Give each reminder lead time once.")
    if any(not 1 <= h <= REMINDER_HOURS_MAX for h in hours):
        raise ValidationError(f"Reminder lead times are 1 to {REMINDER_HOURS_MAX} hours.")


class Organization(models.Model):
    """The tenant: every tenant-owned row points here."""

    NAME_MAX_LENGTH = 100

    name = models.CharField(max_length=NAME_MAX_LENGTH)
    # Every time its organizers see or enter is in this zone (accounts.tenancy activates it).
    time_zone = models.CharField(
        max_length=64,
        default=DEFAULT_TIME_ZONE,
        validators=[validate_time_zone],
        help_text="IANA time zone name, such as Europe/Paris.",
    )
    # Hours before each party's start at which its attendees are reminded (a party may set
    # its own); the `Party Starting Soon` event a Klaviyo flow sends the reminder from.
    reminder_hours = models.JSONField(default=default_reminder_hours)
    # The marketing consent its signup forms ask for, in its own words (blank: Partyline's
    # sentence naming the organization). Every wording shown is kept as a version
    # (parties.ConsentWording), and each attendee's record points at the one they saw.
    marketing_consent_text = models.CharField(max_length=500, blank=True)
    # Days attendees' details are kept after their party ends, then erased (counts stay);
    # None keeps them until someone erases them.
    attendee_retention_days = models.PositiveIntegerField(null=True, blank=True)
    # Erasing a person may also ask Klaviyo to delete their profile from the whole account
    # (every list and event there, not only Partyline's): off unless an owner turns it on,
    # and only then does connecting ask Klaviyo for the `data-privacy:write` scope.
    klaviyo_deletion_enabled = models.BooleanField(default=False)
    # The sites (origins, accounts.origins) whose pages may show its parties' embedded signup
    # forms in a frame: the forms' Content-Security-Policy `frame-ancestors`. Empty: none.
    embed_origins = models.JSONField(default=list, blank=True, validators=[validate_origins])
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organizations"
    )

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    # Checks guests in at the door (the door app's pages) and sees nothing else of the
    # organization: no party page, no attendee export, no settings (accounts.tenancy).
    DOOR = "door", "Door staff"


# Roles that may manage the organization: its members, invites and (later) its Klaviyo
# connections. Klaviyo itself lets only owner, admin and manager roles manage apps.
MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="accounts_membership_unique"
            ),
        ]
        ordering = ["organization__name", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.get_role_display()})"

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGER_ROLES

    @property
    def is_door_staff(self) -> bool:
        return self.role == Role.DOOR


class InviteQuerySet(models.QuerySet["Invite"]):
    def pending(self) -> InviteQuerySet:
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )


class Invite(models.Model):
    """A single-use, expiring invitation to join an organization with a role.

    Only a SHA-256 digest of the link's token is stored: a database leak does not hand out
    working invite links.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invites")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=Role, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InviteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invite for {self.email} to {self.organization}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A personal API token for the JSON API: one user acting in one organization.

    Shown once at creation; only its SHA-256 digest is stored. The token carries the user's
    current role in the organization, and stops working when they leave it.
    """

    PREFIX = "pl_"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(
        max_length=16, help_text="The token's first characters, to recognise it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"
