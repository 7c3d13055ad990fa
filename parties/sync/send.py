"""Sending: claim a batch of pending attendees and send what each one's place calls for,
within the window rule.

Each place asks Klaviyo for something else: a registered attendee joins the party's list
(profile import, then a subscribe job with the list); one waitlisted or offered a place is
not in the list yet, so their profile is imported and their consent recorded with a
subscribe job naming no list; a cancelled one leaves the list (`DELETE
/api/lists/{id}/relationships/profiles`, never an unsubscribe), unless nothing of theirs was
ever sent, which needs no call at all. Registering needs no marketing consent: a registered
attendee who declined it joins the list through an import job naming the list (which
changes no consent, and asks no confirmation of a double opt-in list), and one waiting who
declined it is imported only.

The window rule: *while a rush lasts, a party sends per coalescing window
(`PARTY_SYNC_WINDOW_SECONDS`) at most one import, one import into the list (those who
declined marketing), one subscribe to the list, one consent-only subscribe and one list
removal; only a full batch of 1,000 may be followed at once by another.* The party's send
gate (`gates.SEND_GATE`) holds it; Klaviyo's Retry-After and the backoff after an outage move
the gate too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import normalize_email
from core.outbox import claim_batch as claim_outbox_batch
from integrations.klaviyo.bodies import MAX_LIST_REMOVAL_BATCH, MAX_SUBSCRIBE_BATCH
from integrations.klaviyo.client import MAX_PAGE_SIZE, KlaviyoClient
from integrations.klaviyo.errors import KlaviyoError
from integrations.klaviyo.refusals import indexed_by, send_without_refused
from integrations.services import connection_record_success
from parties.models import Attendee, Party, Place, Question, SyncState
from parties.questions import mapped_questions, profile_properties
from parties.sync.config import sync_config
from parties.sync.gates import SEND_GATE, renew_party_lease
from parties.sync.outcomes import KLAVIYO_STOPS, SyncReport, reason, stop_for

# A profile's index in a rejected bulk body, from Klaviyo's `source.pointer`.
PROFILE_POINTER = re.compile(r"/profiles/data/(\d+)")
BY_PROFILE = indexed_by(PROFILE_POINTER)
# A profile's index in a refused list removal (its body is the list of profiles: `/data/3`).
REMOVAL_POINTER = re.compile(r"^/data/(\d+)(?:/|$)")

# What each place calls for in Klaviyo: in the list, consent only, or out of the list.
LIST_PLACES = (Place.REGISTERED,)
# Not registered yet (an offer is not a registration until it is claimed): kept out of the
# list, their consent recorded, so they are in Klaviyo for the waitlist's emails.
CONSENT_PLACES = (Place.WAITLISTED, Place.OFFERED)
REMOVAL_PLACES = (Place.CANCELLED,)
# Who leaves the list: a cancelled place, or an erased person whatever their place was.
LEAVES_LIST = Q(place__in=REMOVAL_PLACES) | Q(erased_at__isnull=False)


def leaves_list(attendee: Attendee) -> bool:
    """The row's own `LEAVES_LIST`."""
    return attendee.place in REMOVAL_PLACES or attendee.erased_at is not None


# A batch is one call of each kind: it fits both a subscribe job and a list removal.
BATCH_SIZE = min(MAX_SUBSCRIBE_BATCH, MAX_LIST_REMOVAL_BATCH)


def send_due(party: Party, client: KlaviyoClient, holder: str, report: SyncReport) -> None:
    """Send what the window allows: one batch, or back-to-back batches while they are full."""
    settle_unsent_cancellations(party)
    while SEND_GATE.is_open(party.pk):
        renew_party_lease(party.pk, holder)
        batch, claimed_at = claim_batch(party)
        if not batch:
            return
        report.batches += 1
        _send_batch(party, client, batch, claimed_at, report)
        if len(batch) < BATCH_SIZE:
            # A partial batch: what trickles in next waits for the window.
            SEND_GATE.close_for(party.pk, sync_config().window.total_seconds())
            return


def settle_unsent_cancellations(party: Party) -> int:
    """Cancelled attendees no run ever claimed (`claimed_at` unset): nothing of theirs ever
    reached Klaviyo, so they are out of the list without a call. The filter is the guard: a
    run that claimed them once may have subscribed them, and they are removed for real."""
    now = timezone.now()
    return Attendee.objects.filter(
        LEAVES_LIST,
        party=party,
        sync_state=SyncState.PENDING,
        claimed_at__isnull=True,
    ).update(
        sync_state=SyncState.REMOVED,
        synced_at=None,
        state_reason="Cancelled before they were sent to Klaviyo: never in the list.",
        checked_at=now,
        updated_at=now,
    )


def claim_batch(party: Party) -> tuple[list[Attendee], datetime]:
    """Mark up to one batch of *pending* attendees `syncing` (`core.outbox.claim_batch`: the
    state filter is the guard, so an attendee already sent, confirmed or claimed by another
    worker is never claimed again)."""
    claimed_at = timezone.now()
    ids = claim_outbox_batch(
        Attendee.objects.filter(party=party),
        size=BATCH_SIZE,
        state_field="sync_state",
        waiting_state=SyncState.PENDING,
        claimed_state=SyncState.SYNCING,
        updates={
            "claimed_at": claimed_at,
            # Set again just before a subscribe or removal call: recovery reads it as "may
            # have reached Klaviyo".
            "sent_at": None,
            # An earlier import job carries an earlier version of them.
            "import_job_id": "",
            "attempts": F("attempts") + 1,
            "updated_at": claimed_at,
        },
    )
    return list(Attendee.objects.filter(pk__in=ids).order_by("pk")), claimed_at


def _profile(attendee: Attendee, mapped: list[Question]) -> dict[str, Any]:
    """The attendee's profile: their name, and their answers to the questions the organizer
    mapped to profile properties."""
    profile: dict[str, Any] = {
        "email": attendee.email,
        "first_name": attendee.first_name,
        "last_name": attendee.last_name,
    }
    if properties := profile_properties(attendee, mapped):
        profile["properties"] = properties
    return profile


def _send_batch(
    party: Party,
    client: KlaviyoClient,
    batch: list[Attendee],
    claimed_at: datetime,
    report: SyncReport,
) -> None:
    """One import job for everyone joining or waiting, one import into the list for the
    registered who declined marketing, one subscribe job to the list, one consent-only
    subscribe job and one list removal; each group becomes `sent` as soon as its call went
    through, so a later call Klaviyo cannot take never repeats an earlier one (nor a
    confirmation email)."""
    leaving = [attendee for attendee in batch if leaves_list(attendee)]
    staying = [attendee for attendee in batch if not leaves_list(attendee)]
    # In the list without a marketing subscription: the import itself adds them.
    listed = [a for a in staying if a.place in LIST_PLACES and not a.marketing_consent]
    mapped = mapped_questions(party.pk)
    try:
        imported = _import(
            client, [a for a in staying if a not in listed], mapped, claimed_at, report
        )
        imported += _import(
            client, listed, mapped, claimed_at, report, list_id=party.klaviyo_list_id
        )
        # Someone already confirmed in the list (and back with new details) needs only the
        # profile update: never a second subscription (or a second confirmation email).
        consenting = [a for a in imported if a.marketing_consent]
        joining = [a for a in consenting if a.place in LIST_PLACES and a.synced_at is None]
        waiting = [a for a in consenting if a.place in CONSENT_PLACES]
        subscribing = {a.pk for a in joining + waiting}
        report.sent += _mark_sent([a for a in imported if a.pk not in subscribing], claimed_at)
        for people, list_id in ((joining, party.klaviyo_list_id), (waiting, None)):
            subscribed = _subscribe(party, client, people, list_id, claimed_at, report)
            report.sent += _mark_sent(subscribed, claimed_at)
        removed = _remove_from_list(party, client, leaving, claimed_at, report)
        report.sent += _mark_sent(removed, claimed_at)
    except KLAVIYO_STOPS as error:
        release(batch, claimed_at)
        raise stop_for(party, error) from None
    except BaseException:
        release(batch, claimed_at)
        raise
    connection_record_success(connection=party.connection)


def _import(
    client: KlaviyoClient,
    people: list[Attendee],
    mapped: list[Question],
    claimed_at: datetime,
    report: SyncReport,
    *,
    list_id: str | None = None,
) -> list[Attendee]:
    """One import job with these attendees' details (adding them to `list_id`, consent
    untouched, when given); those Klaviyo took."""
    if not people:
        return []
    job_ids: list[str] = []
    imported = _with_refusals(
        people,
        claimed_at,
        report,
        lambda some: job_ids.append(
            client.bulk_import_profiles(
                profiles=[_profile(a, mapped) for a in some], list_id=list_id
            ).id
        ),
    )
    # Progress is written down before the next call, so a run killed between two calls is
    # recovered without repeating what reached Klaviyo (see `gates.recover_claims`).
    _claimed(imported, claimed_at).update(
        import_job_id=job_ids[-1] if job_ids else "", sent_at=timezone.now()
    )
    return imported


def _subscribe(
    party: Party,
    client: KlaviyoClient,
    people: list[Attendee],
    list_id: str | None,
    claimed_at: datetime,
    report: SyncReport,
) -> list[Attendee]:
    """One subscribe job granting these attendees' consent, into the list (None: into no
    list); those Klaviyo took."""
    if not people:
        return []
    return _with_refusals(
        people,
        claimed_at,
        report,
        lambda some: client.subscribe_profiles(
            list_id=list_id,
            emails_with_consent=[a.email for a in some],
            custom_source=f"Partyline signup: {party.name}"[:255],
        ),
    )


def _remove_from_list(
    party: Party,
    client: KlaviyoClient,
    leaving: list[Attendee],
    claimed_at: datetime,
    report: SyncReport,
) -> list[Attendee]:
    """One removal call for the cancelled attendees in the list; those whose removal went
    through or who were not in it (all to be read back).

    The call takes Klaviyo profile ids: the one known (`klaviyo_profile_id`), else a read of
    the list by email, which also tells who is not in it and needs no call."""
    profile_ids = {a.pk: a.klaviyo_profile_id for a in leaving if a.klaviyo_profile_id}
    unknown = [a for a in leaving if not a.klaviyo_profile_id]
    unanswered: set[int] = set()
    for start in range(0, len(unknown), MAX_PAGE_SIZE):
        chunk = unknown[start : start + MAX_PAGE_SIZE]
        answered = _with_refusals(
            chunk,
            claimed_at,
            report,
            lambda some: profile_ids.update(_member_ids(party, client, some)),
            locate=lambda pointer, items: None,  # a read's refusal points at no one
        )
        if not answered:
            unanswered |= {a.pk for a in chunk}
    members = [a for a in leaving if a.pk in profile_ids]
    refused: set[int] = set()
    if members:
        # Set just before the call: recovery reads it as "may have reached Klaviyo".
        _claimed(members, claimed_at).update(sent_at=timezone.now())
        removed = _with_refusals(
            members,
            claimed_at,
            report,
            lambda some: client.remove_profiles_from_list(
                list_id=party.klaviyo_list_id, profile_ids=[profile_ids[a.pk] for a in some]
            ),
            locate=indexed_by(REMOVAL_POINTER),
        )
        refused = {a.pk for a in members} - {a.pk for a in removed}
    return [a for a in leaving if a.pk not in unanswered | refused]


def _member_ids(party: Party, client: KlaviyoClient, people: list[Attendee]) -> dict[int, str]:
    """Which of these attendees are in the party's list, with their Klaviyo profile ids
    (kept on them: the read-back and any later removal use them)."""
    found = {
        normalize_email(member.email): member.profile_id
        for member in client.list_members_among(
            list_id=party.klaviyo_list_id, emails=[a.email for a in people]
        )
    }
    ids = {a.pk: found[a.email] for a in people if a.email in found}
    for attendee in people:
        if attendee.pk in ids:
            Attendee.objects.filter(pk=attendee.pk).update(klaviyo_profile_id=ids[attendee.pk])
    return ids


def _mark_sent(attendees: Sequence[Attendee], claimed_at: datetime) -> int:
    now = timezone.now()
    return _claimed(attendees, claimed_at).update(
        sync_state=SyncState.SENT, sent_at=now, checked_at=None, state_reason="", updated_at=now
    )


def _claimed(attendees: Sequence[Attendee], claimed_at: datetime) -> QuerySet[Attendee]:
    """These attendees, while they are still this run's claim (a re-signup meanwhile made
    them pending again, and they are then left alone)."""
    return Attendee.objects.filter(
        pk__in=[a.pk for a in attendees], sync_state=SyncState.SYNCING, claimed_at=claimed_at
    )


def _with_refusals(
    people: list[Attendee],
    claimed_at: datetime,
    report: SyncReport,
    send: Callable[[list[Attendee]], Any],
    *,
    locate: Callable[[str | None, list[Attendee]], int | None] = BY_PROFILE,
) -> list[Attendee]:
    """Send; when Klaviyo rejects one profile (a 4xx pointing at it, found by `locate`),
    fail only that attendee with Klaviyo's reason and send the rest again. A refusal that
    points at no one fails them all, each worth a retry once its cause is fixed."""

    def refused(attendees: list[Attendee], error: KlaviyoError, at_fault: bool) -> None:
        report.failed += _fail(attendees, claimed_at, reason(error), refused_as_sent=at_fault)

    return send_without_refused(people, send, locate=locate, refused=refused)


def _fail(
    attendees: Sequence[Attendee], claimed_at: datetime, why: str, *, refused_as_sent: bool
) -> int:
    return _claimed(attendees, claimed_at).update(
        sync_state=SyncState.FAILED,
        state_reason=why[:500],
        refused_as_sent=refused_as_sent,
        updated_at=timezone.now(),
    )


def release(attendees: Sequence[Attendee], claimed_at: datetime) -> None:
    """Put a claimed batch back to pending: Klaviyo answered with an error, so nothing of
    the failed call was done and it is simply tried later."""
    _claimed(attendees, claimed_at).update(sync_state=SyncState.PENDING, updated_at=timezone.now())
