"""Operator views of parties and attendees. Pipeline state is read-only here: it changes only
through the services, which the "Retry sync" actions call."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from parties import services
from parties.models import Attendee, EventSender, Party, PartyEvent, Question
from parties.search import search_words


class QuestionInline(admin.TabularInline):
    """The party's signup questions, read-only: organizers change them on the party's
    questions page (a key changed here would strand every answer given under it)."""

    model = Question
    fields = readonly_fields = (
        "position",
        "key",
        "label",
        "kind",
        "required",
        "profile_property",
        "removed_at",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Party | None = None) -> bool:
        return False


@admin.register(Party)
class PartyAdmin(admin.ModelAdmin):
    inlines = [QuestionInline]
    list_display = ["name", "organization", "connection", "list_state", "signups_open", "starts_at"]
    list_filter = ["list_state", "signups_open"]
    search_fields = ["name", "slug"]
    list_select_related = ["organization", "connection"]
    # Read-only: organizers change parties on their pages, through the services that keep
    # the Klaviyo list in step (a rename here would never reach Klaviyo).
    readonly_fields = [field.name for field in Party._meta.fields if field.name != "id"]
    actions = ["retry_sync"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A party needs its Klaviyo list: organizers create parties on their pages.
        return False

    @admin.action(description="Retry sync")
    def retry_sync(self, request: HttpRequest, queryset: QuerySet[Party]) -> None:
        count = 0
        for party in queryset:
            services.party_retry_sync(party=party)
            count += 1
        self.message_user(request, f"Asked {count} part{'y' if count == 1 else 'ies'} to sync now.")


@admin.register(Attendee)
class AttendeeAdmin(admin.ModelAdmin):
    list_display = ["email", "party", "place", "sync_state", "state_reason", "synced_at"]
    list_filter = ["place", "sync_state"]
    search_fields = ["email"]
    list_select_related = ["party"]
    autocomplete_fields = ["party"]
    # The key to the attendee's own page is theirs: never shown, even to operators (the party
    # page replaces a leaked one).
    exclude = ["manage_token", "checkin_code"]
    readonly_fields = [
        # A place moves only through parties.places (the capacity, the line, the events).
        "place",
        "waitlisted_at",
        "offer_expires_at",
        "cancelled_at",
        "cancelled_by",
        "registrations",
        # The consent record is what the person gave: never edited after the fact.
        "marketing_consent",
        "consent_wording",
        "consented_at",
        "signup_source",
        "sync_state",
        "claimed_at",
        "klaviyo_profile_id",
        "attempts",
        "state_reason",
        "import_job_id",
        "sent_at",
        "checked_at",
        "synced_at",
        "created_at",
        "updated_at",
    ]
    actions = ["retry_sync"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Signups come through the public form, which records consent.
        return False

    def save_model(
        self, request: HttpRequest, obj: Attendee, form: forms.ModelForm[Attendee], change: bool
    ) -> None:
        # An operator's correction of a name or an address is what the door finds too (an
        # erased registration stays unfindable).
        if obj.erased_at is None:
            obj.door_search = search_words(
                first_name=obj.first_name, last_name=obj.last_name, email=obj.email
            )
        super().save_model(request, obj, form, change)

    @admin.action(description="Retry sync")
    def retry_sync(self, request: HttpRequest, queryset: QuerySet[Attendee]) -> None:
        retried = skipped = 0
        for attendee in queryset.select_related("party"):
            if services.attendee_retry(attendee=attendee):
                retried += 1
            else:
                skipped += 1
        if retried:
            self.message_user(request, f"{retried} attendee(s) will sync again shortly.")
        if skipped:
            self.message_user(
                request,
                f"{skipped} attendee(s) had nothing a retry can change (not rejected, or "
                "refused by Klaviyo as sent), so they were left as they are.",
                messages.WARNING,
            )


@admin.register(PartyEvent)
class PartyEventAdmin(admin.ModelAdmin):
    """Lifecycle events, read-only: written by the services with the change that causes them,
    moved on by the events engine."""

    list_display = ["metric", "email", "party", "state", "reason", "occurred_at", "sent_at"]
    list_filter = ["state", "metric"]
    search_fields = ["email", "unique_id"]
    list_select_related = ["party"]
    readonly_fields = [field.name for field in PartyEvent._meta.fields if field.name != "id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(EventSender)
class EventSenderAdmin(admin.ModelAdmin):
    """Each Klaviyo account's event sender: why its events wait, its backoff, its flows
    reading. "Send now" clears a backoff and plans a run."""

    list_display = ["connection", "paused_reason", "failures", "next_send_at", "last_sent_at"]
    list_select_related = ["connection"]
    readonly_fields = [field.name for field in EventSender._meta.fields]
    actions = ["send_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Send now")
    def send_now(self, request: HttpRequest, queryset: QuerySet[EventSender]) -> None:
        count = sum(
            services.events_resume(connection=sender.connection)
            for sender in queryset.select_related("connection")
        )
        self.message_user(request, f"{count} account(s) with events waiting will send them now.")
