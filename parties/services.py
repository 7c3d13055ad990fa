"""Parties and signups: what organizers and attendees do, in plain functions.

No function here calls Klaviyo: a party's list is created, renamed or deleted, and a
reconciliation run, by background tasks (`parties.tasks`), and the pages show their
progress. A signup is saved in the request's transaction and the attendee sees success at
once; the outbox engine (`parties.sync`) relays it to Klaviyo and records what Klaviyo did.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, NamedTuple

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User, normalize_email
from integrations.budgets import list_budget_message, list_budget_reopens_at
from integrations.models import ConnectionStatus, KlaviyoConnection
from integrations.scopes import events_missing_scopes
from parties import attribution as signup_attribution
from parties import places, questions, tasks
from parties.errors import PartyError
from parties.events.catalogue import occurrence_of
from parties.events.flows import FLOWS_REFRESH_GAP
from parties.events.record import (
    concerned_attendees,
    events_withdraw,
    party_event_record,
    sample_events_record,
)
from parties.events.schedule import moments_plan
from parties.models import (
    PLACE_FIELDS,
    Attendee,
    ConsentWording,
    EventSender,
    EventState,
    ListState,
    OptInProcess,
    Party,
    PartyEvent,
    PartyMetric,
    PartyMoment,
    Place,
    Reconciliation,
    ReconciliationStatus,
    SignupSource,
    SyncState,
    erased_address,
    new_manage_token,
    retry_can_help,
)
from parties.search import search_words

logger = logging.getLogger(__name__)


# --- Parties --------------------------------------------------------------------------------


PARTY_FIELDS = (
    "name",
    "starts_at",
    "ends_at",
    "reminder_hours",
    "address",
    "address2",
    "city",
    "state",
    "description",
    "waitlist_enabled",
    "claim_window_hours",
    "language",
)
TIME_FIELDS = ("starts_at", "ends_at")
# A change of these tells everyone concerned (`Party Details Changed`: registered, offered a
# place or waiting for one) and raises the
# party's `details_version` (its calendar entries' SEQUENCE).
DETAILS_FIELDS = (*TIME_FIELDS, *PLACE_FIELDS)
# A change of these moves the party's reminders and its end.
SCHEDULE_FIELDS = ("starts_at", "ends_at", "reminder_hours")


def party_create(
    *,
    membership: Membership,
    connection: KlaviyoConnection,
    data: dict[str, Any],
    questions_from: Party | None = None,
) -> Party:
    """Save the party; its Klaviyo list is created in the background straight after, or,
    when today's new lists are all used in the Klaviyo account, once the next day's budget
    opens: `list_error` then says so, and the party's sync is planned for then. Its form asks
    the questions `questions_from` asks, or the starter ones."""
    if connection.organization_id != membership.organization_id:
        raise PartyError("Choose one of your organization's Klaviyo connections.")
    opt_in = data.get("opt_in_process") or OptInProcess.SINGLE
    reopens_at = list_budget_reopens_at(connection=connection)
    with transaction.atomic():
        party = Party.objects.create(
            organization=membership.organization,
            connection=connection,
            created_by=membership.user,
            opt_in_process=opt_in,
            list_state=ListState.PENDING,
            list_error=list_budget_message(reopens_at=reopens_at) if reopens_at else "",
            # No one holds a place yet: any capacity fits, and nobody waits to be promoted.
            capacity=data.get("capacity"),
            **{key: data[key] for key in PARTY_FIELDS if key in data},
        )
        if questions_from is None:
            questions.starter_questions_add(party)
        else:
            questions.questions_copy(source=questions_from, target=party)
        event_sender_ensure(connection=connection)
        tasks.party_sync_request(party_id=party.pk, at=reopens_at or timezone.now(), force=True)
        tasks.moments_schedule(moments_plan(party))
    return party


def copy_name(name: str) -> str:
    """ "Summer BBQ" -> "Summer BBQ (copy)", within the name's length."""
    suffix = " (copy)"
    return name[: Party.NAME_MAX_LENGTH - len(suffix)] + suffix


class PartyUpdate(NamedTuple):
    party: Party
    # The Klaviyo list is being renamed to the party's new name.
    renaming: bool
    # Registered attendees told of a new time or place (`Party Details Changed`).
    told: int
    # People a raised capacity moved up from the waitlist (registered or offered a place).
    promoted: int = 0


def party_update(*, party: Party, data: dict[str, Any]) -> PartyUpdate:
    """Save the fields the organizer changed, and only those: a worker may be writing the
    list's fields meanwhile.

    A new time or place is told to everyone concerned (`Party Details Changed`), in the
    same transaction; reminders not sent yet move with the time. A new capacity goes through
    `places.capacity_change`: never below the places held now (PartyError, and nothing is
    saved), and a raise promotes the first people waiting."""
    changed = [key for key in PARTY_FIELDS if key in data and getattr(party, key) != data[key]]
    before = {key: getattr(party, key) for key in changed}
    for key in changed:
        setattr(party, key, data[key])
    renaming = "name" in changed
    told = 0
    promoted: list[Attendee] = []
    try:
        with transaction.atomic():
            if changed:
                party.save(update_fields=changed)
            if "capacity" in data and data["capacity"] != party.capacity:
                # After the save: a raise offers places with the claim window just set.
                promoted = places.capacity_change(party=party, capacity=data["capacity"])
            if renaming:
                tasks.party_sync_request(party_id=party.pk, at=timezone.now(), force=True)
            if not party.is_cancelled:
                told = _party_changed_events(party, changed)
            if any(key in DETAILS_FIELDS for key in changed):
                # Last in the transaction: a refusal above leaves the version as it was.
                _details_version_raise(party)
    except PartyError:
        for key, value in before.items():  # the page shows the party as it still is
            setattr(party, key, value)
        raise
    return PartyUpdate(party, renaming, told, len(promoted))


def _party_changed_events(party: Party, changed: list[str]) -> int:
    """What a change of the party means for its events: new reminders, and a
    `Party Details Changed` for everyone concerned when the time or the place changed (how
    many)."""
    if any(key in SCHEDULE_FIELDS for key in changed):
        if any(key in TIME_FIELDS for key in changed):
            # Reminders written for the old time and not sent yet are out of date.
            events_withdraw(
                PartyEvent.objects.filter(party=party, metric=PartyMetric.STARTING_SOON),
                "The party's time changed before this reminder was sent.",
            )
        tasks.moments_schedule(moments_plan(party))
    told = [key for key in DETAILS_FIELDS if key in changed]
    if not told:
        return 0
    now = timezone.now()
    written = party_event_record(
        party,
        PartyMetric.DETAILS_CHANGED,
        occurred_at=now,
        attendees=concerned_attendees(party),
        occurrence=f"{int(now.timestamp() * 1000)}",
        extra={
            "changed": ",".join(told),
            "time_changed": any(key in TIME_FIELDS for key in told),
            "place_changed": any(key in PLACE_FIELDS for key in told),
        },
    )
    tasks.events_send_request(connection_id=party.connection_id)
    return written


def _details_version_raise(party: Party) -> None:
    """The time or the place changed: calendar entries of the party (its SEQUENCE, see
    `parties.calendar`) must replace the ones people hold. Raised in the database, so two
    organizers saving at once raise it twice; the party object carries the new value."""
    Party.objects.filter(pk=party.pk).update(details_version=F("details_version") + 1)
    party.refresh_from_db(fields=["details_version"])


def party_cancel(*, party: Party) -> bool:
    """Call the whole party off: signups close, the list is kept, reminders not sent are
    withdrawn, and everyone concerned (registered, offered or waiting) gets `Party Cancelled`.
    False if it already was."""
    now = timezone.now()
    with transaction.atomic():
        # Signups under way finish first (and get `Party Cancelled`); later ones see it.
        places.signups_gate_shut(party.pk)
        # The guard: a party is cancelled once (one `Party Cancelled` each).
        if not Party.objects.filter(pk=party.pk, cancelled_at__isnull=True).update(
            # A calendar app takes the cancelled entry over the one it holds only when its
            # SEQUENCE is higher.
            cancelled_at=now,
            signups_open=False,
            details_version=F("details_version") + 1,
        ):
            return False
        party.cancelled_at, party.signups_open = now, False
        # Open offers end with the party: nobody can claim a place at it, and no lapsed offer
        # passes a place on (`places.seat_take` gives none at a cancelled party).
        party.attendees.filter(place=Place.OFFERED).update(offer_expires_at=None)
        party.refresh_from_db(fields=["details_version"])
        events_withdraw(
            PartyEvent.objects.filter(party=party), "The party was cancelled before it was sent."
        )
        moments_plan(party)  # a cancelled party has no moments left to come
        party_event_record(
            party,
            PartyMetric.CANCELLED,
            occurred_at=now,
            occurrence=occurrence_of(now),
            attendees=concerned_attendees(party),
        )
        tasks.events_send_request(connection_id=party.connection_id, at=now, force=True)
    return True


def organization_moments_replan(*, organization: Organization) -> int:
    """The organization's time zone or default reminder lead times changed: bring the
    moments of its parties not over yet in line (those with their own lead times too, as
    the zone moves their wall clock). How many parties were looked at."""
    parties = Party.objects.select_related("organization").filter(
        organization=organization,
        cancelled_at__isnull=True,
        pk__in=PartyMoment.objects.filter(fired_at__isnull=True).values("party_id"),
    )
    count = 0
    for party in parties:
        tasks.moments_schedule(moments_plan(party))
        count += 1
    return count


def party_set_signups_open(*, party: Party, is_open: bool) -> Party:
    if is_open and party.is_cancelled:
        raise PartyError("This party was cancelled: its signups stay closed.")
    party.signups_open = is_open
    party.save(update_fields=["signups_open"])
    return party


def party_delete(*, party: Party, delete_klaviyo_list: bool) -> bool:
    """Delete the party and its signups here; its Klaviyo list is deleted in the background
    if asked. Returns whether a list deletion was queued."""
    queued = False
    with transaction.atomic():
        if delete_klaviyo_list and party.klaviyo_list_id:
            tasks.delete_klaviyo_list.enqueue(
                connection_id=party.connection_id, list_id=party.klaviyo_list_id
            )
            queued = True
        party.delete()
    return queued


# --- Consent wording --------------------------------------------------------------------------


def consent_texts(organization: Organization) -> tuple[str, str]:
    """What the organization's signup forms say now, in the active language: the optional
    marketing consent's label (its own words, or Partyline's naming it), and what registering
    brings without it."""
    # Translators: the label of the signup form's optional marketing consent checkbox.
    marketing = organization.marketing_consent_text.strip() or _(
        "Yes, %(organization)s may also email me about future events and news. "
        "I can unsubscribe at any time."
    ) % {"organization": organization.name}
    # Translators: under the signup form's marketing consent checkbox.
    registration = _(
        "Signing up registers you for this party: %(organization)s will email you about "
        "it (your confirmation, reminders and any change), whether or not you tick the box."
    ) % {"organization": organization.name}
    return marketing, registration


def consent_wording_current(*, organization: Organization, language: str) -> ConsentWording:
    """The version of the organization's consent wording that its forms in `language` show
    now: the latest one in that language, or a new version when the words changed (an edit, a
    new name). Versions are numbered across languages: one number, one set of words."""
    with translation.override(language):
        marketing, registration = consent_texts(organization)
    wordings = organization.consent_wordings.order_by("-version")
    latest = wordings.filter(language=language).first()
    if latest is not None and (latest.marketing, latest.registration) == (marketing, registration):
        return latest
    newest = wordings.first()
    try:
        with transaction.atomic():
            return ConsentWording.objects.create(
                organization=organization,
                version=(newest.version + 1) if newest else 1,
                language=language,
                marketing=marketing,
                registration=registration,
            )
    except IntegrityError:  # another request made this version first
        return consent_wording_current(organization=organization, language=language)


# --- Signups --------------------------------------------------------------------------------


# The names a signup gives besides its answers (`data["answers"]`, see parties.questions).
NAME_FIELDS = ("first_name", "last_name")
# A re-signup with nothing new leaves these alone: confirmed in the list, or on their way
# (sending them again would only repeat the work, or a confirmation email).
UNCHANGED_STAYS = (
    SyncState.SYNCED,
    SyncState.CONSENTED,
    SyncState.SYNCING,
    SyncState.SENT,
    SyncState.PENDING,
)


def attendee_register(
    *,
    party: Party,
    data: dict[str, Any],
    signup_source: str = SignupSource.PUBLIC_PAGE,
    wording: ConsentWording | None = None,
) -> tuple[Attendee, bool]:
    """Save a signup, or merge it into the same email's earlier one, and plan the sync.

    Registering needs no marketing consent: `data["marketing_consent"]` says whether they
    gave it, in answer to `wording` (the version the form showed; the organization's current
    one when not given), through `signup_source`.

    A re-signup never erases an earlier answer with a blank (the latest non-blank answers are
    what Klaviyo receives), nor withdraws a consent given before (unsubscribing is Klaviyo's),
    and anyone not yet confirmed in the list is sent again: only a confirmed attendee with
    nothing new stays as they are. The task row is written in the same transaction as the
    attendee, so the sync is enqueued exactly when the signup commits.

    Where the signup came from (`data`'s `utm_source`, `utm_medium`, `utm_campaign` and
    `referrer_host`, cleaned here whoever calls) is the first signup's (`_attribution_keep`).
    """
    # Closing signups closes the forms; the door still registers the people standing at it
    # (not at a cancelled party).
    at_door = signup_source == SignupSource.DOOR and not party.is_cancelled
    if not party.signups_open and not at_door:
        raise PartyError(_("Signups for this party are closed."))
    email = normalize_email(data["email"])
    answers: dict[str, Any] = {key: (data.get(key) or "").strip() for key in NAME_FIELDS}
    answers["answers"] = dict(data.get("answers") or {})
    # A new row's words for the door's search (a merge writes them with the names it keeps).
    answers["door_search"] = search_words(
        first_name=answers["first_name"], last_name=answers["last_name"], email=email
    )
    consent = {
        "marketing_consent": bool(data.get("marketing_consent")),
        "consent_wording": wording
        or consent_wording_current(organization=party.organization, language=party.language),
        "consented_at": timezone.now(),
        "signup_source": signup_source,
    }
    attribution = signup_attribution.clean(data)
    try:
        # Almost every signup in a rush is a new address: one INSERT, and the unique
        # constraint on (party, email) settles a race with the same address's other request.
        with transaction.atomic():
            attendee = Attendee.objects.create(
                party=party, email=email, **answers, **consent, **attribution
            )
            places.place_new(attendee, party)
            tasks.party_sync_request(party_id=party.pk)
    except IntegrityError:
        return _attendee_merge(
            party=party, email=email, answers=answers, consent=consent, attribution=attribution
        )
    return attendee, True


def _attendee_merge(
    *,
    party: Party,
    email: str,
    answers: dict[str, Any],
    consent: dict[str, Any],
    attribution: dict[str, str],
) -> tuple[Attendee, bool]:
    """The same address signed up before: keep its non-blank answers, re-send unless it is
    confirmed with nothing new."""
    with transaction.atomic():
        # get_or_create: the earlier signup may have been deleted since the INSERT failed.
        attendee, created = Attendee.objects.select_for_update().get_or_create(
            party=party, email=email, defaults={**answers, **consent, **attribution}
        )
        if not created and attendee.erased_at is not None:
            # Erased, and back before their address left the tombstone: the tombstone lets
            # it go (this signup puts them in the list again anyway), and this is a new one.
            Attendee.objects.filter(pk=attendee.pk).update(
                email=erased_address(attendee.pk),
                klaviyo_profile_id="",
                import_job_id="",
                sync_state=SyncState.REMOVED,
                state_reason="Erased; they signed up again, as a new registration.",
                updated_at=timezone.now(),
            )
            attendee = Attendee.objects.create(
                party=party, email=email, **answers, **consent, **attribution
            )
            created = True
        elif not created:
            _attribution_keep(attendee, attribution)
        if created:
            places.place_new(attendee, party)
        elif attendee.place == Place.CANCELLED:
            # They cancelled before: signing up again is a new registration.
            places.place_again(attendee, party)
            attendee.refresh_from_db()
        else:
            given = {key: value for key, value in answers.items() if value and key in NAME_FIELDS}
            if answers["answers"]:
                # Each question answered now replaces its earlier answer; the others stay.
                given["answers"] = {**attendee.answers, **answers["answers"]}
            if consent["marketing_consent"] and not attendee.marketing_consent:
                # Consent given now: the record is this one, and they are subscribed (even
                # if already in the list, which did not record their consent).
                _answers_save(attendee, given, also=consent, resend=True)
                attendee.synced_at = None
                attendee.save(update_fields=["synced_at"])
            else:
                _answers_save(attendee, given, also={})
        if attendee.sync_state == SyncState.PENDING:
            tasks.party_sync_request(party_id=party.pk)
    return attendee, created


def _attribution_keep(attendee: Attendee, attribution: dict[str, str]) -> None:
    """First touch: a registration keeps where its first signup came from, and takes this
    signup's only when it had none. The first visit is the one that found the person; the same
    address signing up again mostly comes back through the party's own emails or a link passed
    around, and crediting that would take the credit from the campaign that brought them. The
    four values go together: one visit's source beside another's campaign describes neither."""
    had = any(getattr(attendee, name) for name in signup_attribution.FIELDS)
    if had or not any(attribution.values()):
        return
    for name, value in attribution.items():
        setattr(attendee, name, value)
    attendee.save(update_fields=[*attribution, "updated_at"])


def _answers_save(
    attendee: Attendee, answers: dict[str, Any], *, also: dict[str, Any], resend: bool = False
) -> None:
    """Save new answers (and `also`, unconditionally); send the attendee to Klaviyo again
    unless they are confirmed there, or on their way, with nothing new (`resend`: there is)."""
    changed = [key for key, value in answers.items() if getattr(attendee, key) != value]
    for key in changed:
        setattr(attendee, key, answers[key])
    for key, value in also.items():
        setattr(attendee, key, value)
    fields = [*changed, *also, "updated_at"]
    if any(key in NAME_FIELDS for key in changed):
        # The door finds them by their new name.
        attendee.door_search = search_words(
            first_name=attendee.first_name, last_name=attendee.last_name, email=attendee.email
        )
        fields.append("door_search")
    if attendee.sync_state != SyncState.PENDING and (
        changed or resend or attendee.sync_state not in UNCHANGED_STAYS
    ):
        attendee.sync_state, attendee.state_reason = SyncState.PENDING, ""
        attendee.attempts = 0
        fields += ["sync_state", "state_reason", "attempts"]
    attendee.save(update_fields=fields)


# --- An attendee's own page -----------------------------------------------------------------


def attendee_update_details(
    *, attendee: Attendee, data: dict[str, Any], asked: Collection[str] = ()
) -> bool:
    """The attendee changes their name or answers on their own page (a blank clears an
    optional answer: they typed it). `asked`: the keys of the questions the form asked; an
    answer to one of them missing from `data["answers"]` was cleared, and answers to others
    (a question removed since) stay. Klaviyo's profile follows. Whether anything changed."""
    if attendee.place == Place.CANCELLED:
        raise PartyError(_("This registration was cancelled: sign up again to change it."))
    names = {key: (data.get(key) or "").strip() for key in NAME_FIELDS if key in data}
    with transaction.atomic():
        locked = Attendee.objects.select_for_update().get(pk=attendee.pk)
        details: dict[str, Any] = dict(names)
        if "answers" in data:
            kept = {key: value for key, value in locked.answers.items() if key not in asked}
            details["answers"] = {**kept, **data["answers"]}
        changed = any(getattr(locked, key) != value for key, value in details.items())
        if changed:
            _answers_save(locked, details, also={})
            if locked.sync_state == SyncState.PENDING:
                tasks.party_sync_request(party_id=locked.party_id)
    attendee.refresh_from_db()
    return changed


def attendee_register_again(*, attendee: Attendee) -> str:
    """Someone who cancelled signs up again from their own page: a new registration, given a
    place or the end of the waitlist (PartyFull when neither). The place they got."""
    party = Party.objects.get(pk=attendee.party_id)
    if party.is_cancelled:
        raise PartyError(_("This party was cancelled."))
    if not party.signups_open:
        raise PartyError(_("Signups for this party are closed."))
    with transaction.atomic():
        locked = Attendee.objects.select_for_update().get(pk=attendee.pk)
        if locked.place != Place.CANCELLED:
            place = locked.place  # a second click: registered already
        else:
            place = places.place_again(locked, party)
            tasks.party_sync_request(party_id=party.pk)
    attendee.refresh_from_db()
    return place


def attendee_link_renew(*, attendee: Attendee) -> str:
    """Revoke the attendee's private link (the old one stops working at once) and give them a
    new one: the organizer does this when a link was shared by mistake. The new token."""
    attendee.manage_token = new_manage_token()
    attendee.save(update_fields=["manage_token", "updated_at"])
    return attendee.manage_token


# --- Lifecycle events ---------------------------------------------------------------------------


def event_sender_ensure(*, connection: KlaviyoConnection) -> EventSender:
    """The account's event sender row (made with its first party or its samples)."""
    sender, _ = EventSender.objects.get_or_create(connection=connection)
    return sender


def sample_events_request(
    *, connection: KlaviyoConnection, user: User, party: Party | None = None
) -> int:
    """Send one sample event of each metric for the organizer's own address (`sample: true`),
    so the metrics exist in Klaviyo before the first attendee and flows can be built and
    previewed; of the party's details when given one."""
    if connection.status != ConnectionStatus.ACTIVE:
        raise PartyError("Reconnect Klaviyo first: sample events need a working connection.")
    missing = events_missing_scopes(connection)
    if missing:
        # They would only wait: say so now rather than promise them.
        raise PartyError(
            f"Klaviyo has not granted Partyline {', '.join(missing)}, which sample events "
            "need. Reconnect Klaviyo on the Integrations page to grant them."
        )
    first_name, _, last_name = user.full_name.strip().partition(" ")
    with transaction.atomic():
        event_sender_ensure(connection=connection)
        written = sample_events_record(
            connection_id=connection.pk,
            email=user.email,
            first_name=first_name,
            last_name=last_name.strip(),
            party=party,
        )
        tasks.events_send_request(connection_id=connection.pk, at=timezone.now(), force=True)
    return written


def first_connect_samples(*, connection: KlaviyoConnection) -> bool:
    """At the first connect of a Klaviyo account able to take events, the organizer who
    connected it gets the sample events (once per account; a reconnect sends none)."""
    if connection.connected_by is None or events_missing_scopes(connection):
        return False
    with transaction.atomic():
        event_sender_ensure(connection=connection)
        # The guard: the samples of an account are sent once, however often it reconnects.
        if not EventSender.objects.filter(pk=connection.pk, samples_sent_at__isnull=True).update(
            samples_sent_at=timezone.now()
        ):
            return False
        sample_events_request(connection=connection, user=connection.connected_by)
    return True


def events_resume(*, connection: KlaviyoConnection) -> bool:
    """A connection is usable again (reconnected, scopes granted): its waiting events go."""
    if not EventSender.objects.filter(pk=connection.pk).update(paused_reason="", next_send_at=None):
        return False
    # The flows panel said the connection could not be read: read its flows again now.
    tasks.flows_read_request(connection_id=connection.pk, gap=FLOWS_REFRESH_GAP)
    waiting = PartyEvent.objects.filter(
        connection=connection, state__in=[EventState.WAITING, EventState.SENT]
    ).exists()
    if waiting:
        tasks.events_send_request(connection_id=connection.pk, at=timezone.now(), force=True)
    return waiting


def flows_refresh(*, connection: KlaviyoConnection) -> bool:
    """A party page asks for a fresh reading of its account's Klaviyo flows: queued unless one
    was asked for in the last `FLOWS_REFRESH_GAP` (False then; the panel says it is reading)."""
    event_sender_ensure(connection=connection)
    return tasks.flows_read_request(connection_id=connection.pk, gap=FLOWS_REFRESH_GAP)


# --- Retries, resumption and reconciliation ---------------------------------------------------


def attendee_retry(*, attendee: Attendee) -> bool:
    """Send them again, if that can change anything (`retry_can_help`)."""
    retried = (
        Attendee.objects.filter(pk=attendee.pk)
        .filter(retry_can_help())
        .update(
            sync_state=SyncState.PENDING, state_reason="", attempts=0, updated_at=timezone.now()
        )
    )
    if retried:
        tasks.party_sync_request(party_id=attendee.party_id, at=timezone.now(), force=True)
    return bool(retried)


def party_retry_failed(*, party: Party) -> int:
    """Send the party's rejected attendees again, except those Klaviyo refused as sent."""
    count = party.attendees.filter(sync_state=SyncState.FAILED, refused_as_sent=False).update(
        sync_state=SyncState.PENDING, state_reason="", attempts=0, updated_at=timezone.now()
    )
    if count:
        tasks.party_sync_request(party_id=party.pk, at=timezone.now(), force=True)
    return count


def party_retry_sync(*, party: Party) -> None:
    """Operators' nudge: sync now, in the background (the sync creates a missing list first)."""
    Party.objects.filter(pk=party.pk).update(next_send_at=None)
    tasks.party_sync_request(party_id=party.pk, at=timezone.now(), force=True)


def parties_resume(*, connection: KlaviyoConnection) -> int:
    """A connection is active again: resume its paused parties at once (in the background:
    this runs in the request that reconnected)."""
    resumed = 0
    for party in Party.objects.filter(connection=connection):
        Party.objects.filter(pk=party.pk).update(sync_paused_reason="", next_send_at=None)
        waiting = party.attendees.filter(
            sync_state__in=[SyncState.PENDING, SyncState.SENT, SyncState.AWAITING_CONFIRMATION]
        ).exists()
        if party.list_state != ListState.READY or waiting:
            tasks.party_sync_request(party_id=party.pk, at=timezone.now(), force=True)
        resumed += 1
    return resumed


def reconciliation_request(*, party: Party, user: User) -> Reconciliation:
    """Queue a comparison with the Klaviyo list (one at a time per party)."""
    if not party.klaviyo_list_id:
        raise PartyError("This party has no Klaviyo list yet.")
    running = party.reconciliations.filter(
        Q(status=ReconciliationStatus.QUEUED) | Q(status=ReconciliationStatus.RUNNING)
    ).first()
    if running is not None:
        return running
    with transaction.atomic():
        reconciliation = Reconciliation.objects.create(party=party, requested_by=user)
        tasks.reconcile_party.enqueue(reconciliation_id=reconciliation.pk)
    return reconciliation
