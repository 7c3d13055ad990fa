from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Organization
from integrations.models import KlaviyoConnection

# A party without an end time is over this long after it starts.
DEFAULT_PARTY_LENGTH = timedelta(hours=3)


def new_public_slug() -> str:
    """An unguessable public id for the signup page (96 random bits)."""
    return secrets.token_urlsafe(12)


class ListState(models.TextChoices):
    PENDING = "pending", "Being created"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class OptInProcess(models.TextChoices):
    """Klaviyo's `opt_in_process` of a list (the account default applies when none is sent)."""

    SINGLE = "single_opt_in", "Single opt-in"
    DOUBLE = "double_opt_in", "Double opt-in"


# A party's place, as its fields (a calendar entry's LOCATION, what `Party Details Changed`
# calls a new place).
PLACE_FIELDS = ("address", "address2", "city", "state")


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
    # When the party is over (None: three hours after the start, see `ends_at_or_default`).
    ends_at = models.DateTimeField(null=True, blank=True)
    # Hours before the start at which each registered attendee is reminded (`Party Starting
    # Soon`); None: the organization's lead times.
    reminder_hours = models.JSONField(null=True, blank=True)
    # The organizer called the whole party off: signups are closed, the list is kept.
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # How many people may hold a place (None: no limit); at capacity, signups join the
    # waitlist when it is on, or are told the party is full.
    capacity = models.PositiveIntegerField(null=True, blank=True)
    waitlist_enabled = models.BooleanField("waitlist", default=True)
    # When set, a freed place is offered to the first waitlisted person for this many hours
    # (they claim it on their page); unset, they are registered at once.
    claim_window_hours = models.PositiveSmallIntegerField(null=True, blank=True)
    # Places held now (registered and offered): kept by the services with conditional
    # UPDATEs, and never above `capacity` (a database constraint).
    seats_taken = models.PositiveIntegerField(default=0)
    # Raised whenever the time or the place changes (a calendar entry's SEQUENCE).
    details_version = models.PositiveIntegerField(default=0)
    slug = models.CharField(max_length=32, unique=True, default=new_public_slug, editable=False)
    # What its public pages (signup, thanks, each attendee's own) are written in; the
    # organizer's pages stay in English.
    language = models.CharField(max_length=16, choices=settings.LANGUAGES, default="en")

    klaviyo_list_id = models.CharField(max_length=64, blank=True)
    list_state = models.CharField(max_length=16, choices=ListState, default=ListState.PENDING)
    list_error = models.CharField(max_length=500, blank=True)
    # The list name Klaviyo has; differs from `name` while a rename waits to be sent.
    klaviyo_list_name = models.CharField(max_length=NAME_MAX_LENGTH, blank=True)
    # What the organizer asked for, sent as the list's `opt_in_process` when it is created ...
    opt_in_process = models.CharField(
        "opt-in process", max_length=20, choices=OptInProcess, default=OptInProcess.SINGLE
    )
    # ... and what Klaviyo reports for the list (the truth the attendee states rely on).
    klaviyo_opt_in_process = models.CharField(max_length=20, choices=OptInProcess, blank=True)
    # Set before a create call whose outcome may stay unknown (a timeout): the retry looks the
    # list up by name instead of creating a second one.
    list_create_started_at = models.DateTimeField(null=True, blank=True)

    signups_open = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Sync coalescing (see parties.tasks.party_sync_request): when the next sync task is
    # due (None: none planned), so signups and retries schedule one task, not one each; the
    # sync runs under a lease so two workers never sync one party at once.
    next_sync_at = models.DateTimeField(null=True, blank=True)
    # No write call to Klaviyo before this: the coalescing window after a partial batch,
    # Klaviyo's Retry-After, or a backoff (see parties.sync).
    next_send_at = models.DateTimeField(null=True, blank=True)
    sync_lease_holder = models.CharField(max_length=64, blank=True)
    sync_lease_expires_at = models.DateTimeField(null=True, blank=True)
    sync_failures = models.PositiveIntegerField(default=0)
    sync_paused_reason = models.CharField(max_length=255, blank=True)
    # What went wrong reading back from Klaviyo in the last run that did, and what happens
    # next, for the organizer ("" once a read-back goes through cleanly; see parties.sync).
    read_back_error = models.CharField(max_length=500, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at", "-pk"]
        verbose_name_plural = "parties"
        constraints = [
            models.CheckConstraint(
                condition=Q(capacity__isnull=True) | Q(seats_taken__lte=models.F("capacity")),
                name="parties_never_over_capacity",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def ends_at_or_default(self) -> datetime:
        return self.ends_at or self.starts_at + DEFAULT_PARTY_LENGTH

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def is_full(self) -> bool:
        """Every place is held (never for a party without a capacity)."""
        return self.capacity is not None and self.seats_taken >= self.capacity

    @property
    def confirms_by_email(self) -> bool:
        """Whether people join the list only once they click Klaviyo's confirmation email
        (double opt-in): what Klaviyo reports for the list, else what was asked for."""
        return (self.klaviyo_opt_in_process or self.opt_in_process) == OptInProcess.DOUBLE


class SyncState(models.TextChoices):
    """Where an attendee stands, as far as Klaviyo has shown us (never as far as we hope)."""

    PENDING = "pending", "Waiting"
    SYNCING = "syncing", "Sending"
    # Klaviyo accepted the jobs (202); their outcome is not known yet.
    SENT = "sent", "Sent to Klaviyo"
    # Read back from Klaviyo: a member of the party's list.
    SYNCED = "synced", "In the list"
    # Read back from Klaviyo: waitlisted or offered a place, so kept out of the list, with
    # their profile and email consent in Klaviyo.
    CONSENTED = "consented", "In Klaviyo, not in the list"
    AWAITING_CONFIRMATION = "awaiting_confirmation", "Awaiting confirmation"
    SUPPRESSED = "suppressed", "Suppressed by Klaviyo"
    FAILED = "failed", "Rejected by Klaviyo"
    NOT_CONFIRMED = "not_confirmed", "Did not confirm"
    # Cancelled, and read back from Klaviyo as out of the list (their consent untouched); or
    # cancelled before anything of theirs was sent.
    REMOVED = "removed", "Removed from the list"


# Klaviyo still has work to do or we still have something to read back.
IN_FLIGHT_STATES = (SyncState.PENDING, SyncState.SYNCING, SyncState.SENT)


def retry_can_help(prefix: str = "") -> Q:
    """Attendees Klaviyo did not put in the list for a reason sending them again can change:
    rejected for something other than their own data, or a confirmation never used (a retry
    asks Klaviyo to email another). `prefix` reaches them through a relation ("attendees__")."""
    return Q(**{f"{prefix}sync_state": SyncState.NOT_CONFIRMED}) | Q(
        **{f"{prefix}sync_state": SyncState.FAILED, f"{prefix}refused_as_sent": False}
    )


class Place(models.TextChoices):
    """A registration's place in the party (separate from what Klaviyo holds)."""

    REGISTERED = "registered", "Registered"
    WAITLISTED = "waitlisted", "On the waitlist"
    OFFERED = "offered", "Offered a place"
    CANCELLED = "cancelled", "Cancelled"


# The places that hold one of the party's seats.
SEATED_PLACES = (Place.REGISTERED, Place.OFFERED)


def new_manage_token() -> str:
    """The secret of an attendee's own page: 192 random bits, nothing derived from them."""
    return secrets.token_urlsafe(24)


def new_checkin_code() -> str:
    """What an attendee's QR code holds for the door: 72 random bits, short enough for a small
    code, and not their private link (a photo of it lets nobody cancel their place)."""
    return secrets.token_urlsafe(9)


# An erased registration's address (the privacy app's tombstones): unique per row, nobody's.
ERASED_DOMAIN = "erased.invalid"


def erased_address(attendee_id: int) -> str:
    return f"erased-{attendee_id}@{ERASED_DOMAIN}"


class ConsentWording(models.Model):
    """The exact words a signup form showed about email, one version per change: what an
    attendee agreed to (or declined) stays provable after the organization edits it."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="consent_wordings"
    )
    version = models.PositiveIntegerField()
    # The language of the form that showed it (`Party.language`): Partyline's own sentences
    # are written in it, so each language has its own versions.
    language = models.CharField(max_length=16, choices=settings.LANGUAGES, default="en")
    # The optional marketing consent's checkbox label.
    marketing = models.TextField()
    # What registering means: the emails about the party that come with it, consent or not.
    registration = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "version"], name="parties_one_wording_per_version"
            ),
        ]
        ordering = ["organization", "-version"]

    def __str__(self) -> str:
        return f"{self.organization} wording v{self.version}"


class QuestionKind(models.TextChoices):
    SHORT_TEXT = "short_text", "Short text"
    LONG_TEXT = "long_text", "Long text"
    SINGLE_CHOICE = "single_choice", "Single choice"
    MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
    CHECKBOX = "checkbox", "Checkbox"
    NUMBER = "number", "Number"


# The kinds whose answers are picked from `Question.choices`.
CHOICE_KINDS = (QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE)


class Question(models.Model):
    """One question of a party's signup form, beyond the name and the address. Its `key`
    never changes once made: answers are stored under it and go to Klaviyo under it, where
    flows and segments name it."""

    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="questions")
    key = models.SlugField(max_length=40, allow_unicode=False)
    kind = models.CharField(max_length=16, choices=QuestionKind, default=QuestionKind.SHORT_TEXT)
    label = models.CharField(max_length=200)
    help_text = models.CharField(max_length=300, blank=True)
    required = models.BooleanField(default=False)
    # The options of a choice question, in their order.
    choices = models.JSONField(default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    # Also sent as this Klaviyo profile property ("" : the events carry it only).
    profile_property = models.CharField(max_length=64, blank=True)
    # Removed by the organizer after people answered it: off the form, and the answers stay
    # readable under its label on the party page, in the CSV and in exports.
    removed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["party", "key"], name="parties_one_question_per_key"),
        ]
        ordering = ["party", "position", "pk"]

    def __str__(self) -> str:
        return self.label

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None


class SignupSource(models.TextChoices):
    """Where a registration, and its consent decision, was given."""

    PUBLIC_PAGE = "public_page", "Public signup page"
    EMBEDDED = "embedded", "Embedded form"
    DOOR = "door", "At the door"


class Attendee(models.Model):
    """A signup: saved the moment it is accepted, then relayed to Klaviyo (the outbox row)."""

    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="attendees")
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    # Their answers to the party's questions ({question key: value}; see parties.questions):
    # strings, a list of strings (multiple choice), a boolean (checkbox) or a number. Kept
    # by key, so a question reworded or removed later leaves them readable.
    answers = models.JSONField(default=dict, blank=True)
    # The consent record: whether they agreed to marketing email (registering needs no
    # consent: the party's own emails come with it), the words they saw, when, and where.
    marketing_consent = models.BooleanField(default=False)
    consent_wording = models.ForeignKey(
        ConsentWording, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    consented_at = models.DateTimeField("consent decided at")
    signup_source = models.CharField(
        max_length=16, choices=SignupSource, default=SignupSource.PUBLIC_PAGE
    )
    # Where the signup came from (parties.attribution): the campaign of the link they followed
    # (its utm_* parameters) and the referring site's host, never its path or query. The first
    # signup's, kept when the same address signs up again (first touch).
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    referrer_host = models.CharField(max_length=253, blank=True)

    place = models.CharField(max_length=16, choices=Place, default=Place.REGISTERED, db_index=True)
    # The waitlist's order: when they joined it (signup order).
    waitlisted_at = models.DateTimeField(null=True, blank=True)
    # An offered place is theirs to claim until then.
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # "attendee" or "organizer".
    cancelled_by = models.CharField(max_length=16, blank=True)
    # How many times they registered (a registration after a cancellation is a new one: its
    # `Registered for Party` event is another occurrence).
    registrations = models.PositiveSmallIntegerField(default=1)
    # The secret link to their own page (revocable: a new one replaces it).
    manage_token = models.CharField(max_length=64, unique=True, default=new_manage_token)
    # Shown as a QR code on their page and thank-you page; door staff scan it to check them in.
    checkin_code = models.CharField(max_length=24, unique=True, default=new_checkin_code)
    # Their names' and address's words folded for the door's search (" zoe martin ...", see
    # parties.search): written with every name by the services, blank once erased.
    door_search = models.TextField(blank=True, editable=False)
    # Erased on request or by retention (the privacy app): their details are gone, the row
    # stays so the party's counts stay true, and they leave the Klaviyo list whatever their
    # place; their address goes too once Klaviyo shows them out of it.
    erased_at = models.DateTimeField(null=True, blank=True)

    sync_state = models.CharField(
        max_length=24, choices=SyncState, default=SyncState.PENDING, db_index=True
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    klaviyo_profile_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Why the attendee is in its state, in words an organizer can act on (Klaviyo's import
    # error, its suppression reason, ...).
    state_reason = models.CharField(max_length=500, blank=True)
    # Rejected because Klaviyo refused their own data (an undeliverable address, a field it
    # does not take): sent again, it would be refused again, so no retry is offered. Every
    # write of `failed` sets it; it means nothing in other states.
    refused_as_sent = models.BooleanField(default=False)
    # The bulk import job carrying the attendee's latest details, until it is seen complete.
    import_job_id = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # When Klaviyo was first seen to hold them in the list: done, never subscribed again.
    synced_at = models.DateTimeField("in the list since", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["party", "email"], name="parties_one_signup_per_email"),
        ]
        indexes = [
            # The party page's newest attendees first, without sorting the party's rows.
            models.Index(fields=["party", "-created_at", "-id"], name="parties_attendee_newest"),
            # The waitlist in its order: positions counted and the first person found without
            # reading the party's other attendees.
            models.Index(
                fields=["party", "waitlisted_at", "id"],
                name="parties_attendee_waitlist",
                condition=Q(place="waitlisted"),
            ),
            models.Index(
                fields=["party", "sync_state", "id"],
                name="parties_attendee_outbox",
                condition=Q(sync_state__in=["pending", "syncing", "sent"]),
            ),
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.email} at {self.party}"

    @property
    def retry_can_help(self) -> bool:
        """The row's own `retry_can_help()`: whether the party page offers Retry."""
        return self.sync_state == SyncState.NOT_CONFIRMED or (
            self.sync_state == SyncState.FAILED and not self.refused_as_sent
        )


class ReconciliationStatus(models.TextChoices):
    QUEUED = "queued", "Waiting to start"
    RUNNING = "running", "Reading the Klaviyo list"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Reconciliation(models.Model):
    """One comparison of a party's signups with its Klaviyo list, run as a task."""

    # Differences kept for the page and the CSV; counts are always complete.
    MAX_DIFFERENCES = 10_000

    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="reconciliations")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=ReconciliationStatus, default=ReconciliationStatus.QUEUED
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    members_read = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    missing_in_klaviyo = models.PositiveIntegerField(default=0)
    only_in_klaviyo = models.PositiveIntegerField(default=0)
    # [{"email": ..., "difference": "missing_in_klaviyo" | "only_in_klaviyo", "state": ...}]
    differences = models.JSONField(default=list)
    truncated = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]

    def __str__(self) -> str:
        return f"Reconciliation of {self.party} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ReconciliationStatus.DONE, ReconciliationStatus.FAILED)


# --- Lifecycle events (the events outbox; see parties.events) ---------------------------------


class PartyMetric(models.TextChoices):
    """The metrics Partyline sends: one fixed set for every party of every account (Klaviyo
    holds at most 200 metrics an account; the party is a property). The names are public
    interface: organizers' flows trigger on them (docs/klaviyo-flows.md)."""

    REGISTERED = "registered", "Registered for Party"
    STARTING_SOON = "starting_soon", "Party Starting Soon"
    DETAILS_CHANGED = "details_changed", "Party Details Changed"
    CANCELLED = "cancelled", "Party Cancelled"
    ENDED = "ended", "Party Ended"
    JOINED_WAITLIST = "joined_waitlist", "Joined Party Waitlist"
    OFFERED_SPOT = "offered_spot", "Offered Party Spot"
    REGISTRATION_CANCELLED = "registration_cancelled", "Cancelled Party Registration"
    CHECKED_IN = "checked_in", "Checked In to Party"


class EventState(models.TextChoices):
    """Where an event stands, as far as Klaviyo has shown us."""

    WAITING = "waiting", "Waiting"
    SENDING = "sending", "Sending"
    # Klaviyo accepted it (202); whether it recorded it is not known yet.
    SENT = "sent", "Sent to Klaviyo"
    # Read back from Klaviyo: recorded, and any live flow it triggers has it.
    DELIVERED = "delivered", "Recorded by Klaviyo"
    # Accepted, but never recorded: Klaviyo drops events of profiles it rejects.
    NOT_RECORDED = "not_recorded", "Dropped by Klaviyo"
    # Klaviyo refused it (a 4xx naming it), with its reason.
    REJECTED = "rejected", "Rejected by Klaviyo"
    # Taken back before it was sent: the attendee or the party was cancelled, or it moved.
    WITHDRAWN = "withdrawn", "Withdrawn"


EVENT_IN_FLIGHT_STATES = (EventState.WAITING, EventState.SENDING, EventState.SENT)


class PartyEvent(models.Model):
    """One lifecycle event for one person: written in the transaction of the change that
    causes it, sent by the account's event sender, then read back (the outbox row).

    `unique_id` is derived from the attendee, the action and its occurrence, so however often
    the row is sent, Klaviyo records one event."""

    connection = models.ForeignKey(
        KlaviyoConnection, on_delete=models.CASCADE, related_name="party_events"
    )
    # None for an organizer's sample events sent before any party exists.
    party = models.ForeignKey(
        Party, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    attendee = models.ForeignKey(
        Attendee, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    metric = models.CharField(max_length=32, choices=PartyMetric)
    unique_id = models.CharField(max_length=128, unique=True)
    # The event's time in Klaviyo: when it happened (or, scheduled, when it was due).
    occurred_at = models.DateTimeField()
    # The profile and the properties as they were when it happened.
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    properties = models.JSONField(default=dict)

    state = models.CharField(max_length=16, choices=EventState, default=EventState.WAITING)
    # Why it is in its state, in words an organizer can act on.
    reason = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Read-backs that did not find it yet, and when the last one ran.
    checks = models.PositiveSmallIntegerField(default=0)
    checked_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["connection", "state", "id"],
                name="parties_event_outbox",
                condition=Q(state__in=["waiting", "sending", "sent"]),
            ),
            models.Index(fields=["party", "metric", "state"], name="parties_event_counts"),
        ]
        ordering = ["-occurred_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} for {self.email}"


class EventSender(models.Model):
    """The events outbox's owner row, one per Klaviyo connection: events of every party of
    the account share its calls, its lease (one sending run at a time) and its send gate
    (the window rule), as a party's row does for its attendees."""

    connection = models.OneToOneField(
        KlaviyoConnection, on_delete=models.CASCADE, primary_key=True, related_name="event_sender"
    )
    # When the next run is planned (None: none), so events schedule one task, not one each.
    next_run_at = models.DateTimeField(null=True, blank=True)
    # No write call before this: the window after a partial batch, Retry-After, a backoff.
    next_send_at = models.DateTimeField(null=True, blank=True)
    lease_holder = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    # Why events wait for a person (a reconnect, missing scopes); "" while they flow.
    paused_reason = models.CharField(max_length=255, blank=True)
    # Klaviyo's ids of Partyline's metrics in this account ({metric name: id}), learnt once.
    metric_ids = models.JSONField(default=dict)
    # What Klaviyo counted at the last read-back look per metric and time range ({key:
    # count}): a count that stopped moving means Klaviyo is done recording (see
    # parties.events.deliver).
    recorded_counts = models.JSONField(default=dict)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    # The "Klaviyo flows" reading: for each metric, the flows it triggers (see
    # parties.events.flows), read by a task, never in a request.
    flows = models.JSONField(default=dict)
    flows_read_at = models.DateTimeField(null=True, blank=True)
    flows_error = models.CharField(max_length=500, blank=True)
    flows_requested_at = models.DateTimeField(null=True, blank=True)
    # A sample event of each metric was sent for this account's first connect.
    samples_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Event sender of {self.connection}"


class PartyMoment(models.Model):
    """A scheduled moment of a party (a reminder lead time, the end): when it comes, each
    registered attendee gets the event. Moments move with the party; a fired one is history."""

    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="moments")
    metric = models.CharField(max_length=32, choices=PartyMetric)
    # For reminders: how long before the start (0 for the end).
    hours_before = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["party", "metric", "hours_before", "due_at"], name="parties_one_moment"
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"], name="parties_moment_due", condition=Q(fired_at__isnull=True)
            ),
        ]
        ordering = ["due_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} of {self.party} at {self.due_at}"
