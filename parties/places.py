"""A registration's place in the party: the capacity, the waitlist that moves by itself,
offers of a freed place, and cancellations. Plain functions called inside the caller's
transaction (the signup's, the cancellation's), each writing the events its change causes.

The functions that move someone run in a transaction of their own (a savepoint inside the
caller's). The capacity holds because places are taken and given back with conditional
UPDATEs of the party's `seats_taken` (`seats_taken < capacity`), and a database constraint
refuses any write that would go over: under a concurrent rush exactly `capacity` people are
registered and the rest join the waitlist in the order they arrived. The waitlist's order is
`waitlisted_at` (then the row's id, see `parties.waitlist`); the first waitlisted person is
promoted whenever a place frees up, at once or, with a claim window, by an offer they claim
on their own page.

A party with no capacity counts no places: its signups hold the party's signup gate shared
(they never wait for one another, where a row lock on the party would queue every signup of a
rush behind the one before), and what every signup must see at once (a capacity set, the
party cancelled) holds it exclusively. Setting a capacity then counts the places held.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.gates import hold_exclusive, hold_shared
from parties import tasks
from parties.errors import PartyError, PartyFull
from parties.events.catalogue import local_iso, local_time_words, registration_properties
from parties.events.record import (
    attendee_event,
    attendee_event_record,
    events_withdraw,
    events_write,
    party_base,
)
from parties.models import (
    SEATED_PLACES,
    Attendee,
    Party,
    PartyEvent,
    PartyMetric,
    Place,
    SyncState,
)

# Who cancelled a registration (`Attendee.cancelled_by`, the event's `cancelled_by`).
BY_ATTENDEE = "attendee"
BY_ORGANIZER = "organizer"
# An offer nobody claimed in time.
BY_OFFER_EXPIRY = "offer_expired"
# The person asked for their data to be erased (or the retention limit did).
BY_ERASURE = "erasure"

# Lazy: shown in the language of the page that shows it (a party's public pages have their own).
FULL = gettext_lazy("This party is full.")
# The namespace of the parties' signup gates (`core.gates`), keyed by the party's id.
SIGNUP_GATE = 0x50617274


def signups_gate_shut(party_id: int) -> None:
    """Hold the party's signup gate alone until the transaction commits: signups under way
    finish first, and those after see what this transaction changes (a capacity, the party
    cancelled)."""
    hold_exclusive(SIGNUP_GATE, party_id)


def _unlimited(party_id: int) -> bool:
    """Whether the party still takes everyone (no capacity, not cancelled). Read with its
    signup gate held: a capacity set or a cancellation committed before is seen, one coming
    after waits for this signup to commit."""
    unlimited = Party.objects.filter(pk=party_id, capacity__isnull=True, cancelled_at__isnull=True)
    return unlimited.exists()


def seat_take(party_id: int) -> bool:
    """Take one of the party's places if one is free (the guard: `seats_taken < capacity`,
    in the UPDATE itself, so two signups can never take the last place twice). A cancelled
    party gives no place, so nobody moves up the line of a party that will not happen."""
    free = Q(capacity__isnull=True) | Q(seats_taken__lt=F("capacity"))
    return bool(
        Party.objects.filter(pk=party_id, cancelled_at__isnull=True)
        .filter(free)
        .update(seats_taken=F("seats_taken") + 1)
    )


def seat_give_back(party_id: int) -> None:
    Party.objects.filter(pk=party_id, seats_taken__gt=0).update(seats_taken=F("seats_taken") - 1)


def place_new(attendee: Attendee, party: Party) -> str:
    """Place a new registration: a free place, else the end of the waitlist, else PartyFull
    (the caller's transaction then saves nothing). Writes its event; returns the place.

    Its event is built first: once a capped party's place is taken, the party's row stays
    locked until the signup commits, and the signups behind wait only for the writes. A join
    of the waitlist locks nothing of the party's: its position is counted when its event is
    sent (`waitlist_positions_fill`), among committed joins. Locks come in one order in every
    transaction: the party's signup gate, then its row, then the account's event sender (a
    change holding the gate alone never waits for a signup that waits for the gate)."""
    base = party_base(party)
    occurrence = f"{attendee.registrations}"
    registered = attendee_event(
        attendee,
        PartyMetric.REGISTERED,
        occurred_at=timezone.now(),
        occurrence=occurrence,
        base=base,
        extra=registration_properties(attendee, from_waitlist=False),
    )
    # Signups under way finish before a capacity is set or the party cancelled.
    hold_shared(SIGNUP_GATE, party.pk)
    if (party.capacity is None and _unlimited(party.pk)) or seat_take(party.pk):
        _write(registered, party)
        return Place.REGISTERED
    if not party.waitlist_enabled:
        raise PartyFull(FULL)
    now = timezone.now()
    # One statement joins the line and checks the party still stands (the gate makes a
    # cancellation committed before this signup visible to it).
    if not Attendee.objects.filter(pk=attendee.pk, party__cancelled_at__isnull=True).update(
        place=Place.WAITLISTED, waitlisted_at=now
    ):
        raise PartyError(_("This party was cancelled."))  # since the signup page was read
    attendee.place, attendee.waitlisted_at = Place.WAITLISTED, now
    joined = attendee_event(
        attendee,
        PartyMetric.JOINED_WAITLIST,
        occurred_at=now,
        occurrence=occurrence,
        base=base,
    )
    _write(joined, party)
    # A place a cancellation freed meanwhile went to nobody if its promotion could not see
    # this join yet: whoever is first in line gets it once this commits (the sweep is the
    # safety net should this process die first).
    transaction.on_commit(lambda: places_left_give(party.pk), robust=True)
    return Place.WAITLISTED


def places_left_give(party_id: int) -> int:
    """Give the party's free places to the first people waiting (a place can be left free
    when a cancellation's promotion and a waitlist join cross). How many moved up."""
    free = Party.objects.filter(
        pk=party_id, cancelled_at__isnull=True, capacity__isnull=False
    ).filter(seats_taken__lt=F("capacity"))
    if (
        not free.exists()
        or not Attendee.objects.filter(party_id=party_id, place=Place.WAITLISTED).exists()
    ):
        return 0
    party = Party.objects.select_related("organization").get(pk=party_id)
    return len(waitlist_promote(party))


def _write(event: PartyEvent, party: Party) -> None:
    events_write([event])
    tasks.events_send_request(connection_id=party.connection_id)


def place_again(attendee: Attendee, party: Party) -> str:
    """Someone who cancelled signs up again: a new registration, placed like a new one."""
    Attendee.objects.filter(pk=attendee.pk, place=Place.CANCELLED).update(
        place=Place.REGISTERED,
        cancelled_at=None,
        cancelled_by="",
        registrations=F("registrations") + 1,
        sync_state=SyncState.PENDING,
    )
    attendee.refresh_from_db()
    return place_new(attendee, party)


def waitlist_position(attendee: Attendee) -> int | None:
    """1 for the first person waiting; None for anyone not on the waitlist."""
    if attendee.place != Place.WAITLISTED or attendee.waitlisted_at is None:
        return None
    ahead = Attendee.objects.filter(party_id=attendee.party_id, place=Place.WAITLISTED).filter(
        Q(waitlisted_at__lt=attendee.waitlisted_at)
        | Q(waitlisted_at=attendee.waitlisted_at, pk__lt=attendee.pk)
    )
    return ahead.count() + 1


@transaction.atomic
def waitlist_promote(party: Party) -> list[Attendee]:
    """Give every free place to the first people waiting, in order: registered at once, or
    offered the place until the claim window ends. Returns who moved up."""
    promoted: list[Attendee] = []
    while True:
        waiting = (
            Attendee.objects.select_for_update()
            .filter(party=party, place=Place.WAITLISTED)
            .order_by("waitlisted_at", "pk")
            .first()
        )
        if waiting is None or not seat_take(party.pk):
            return promoted
        if party.claim_window_hours:
            _offer(waiting, party)
        else:
            _promote(waiting, party)
        promoted.append(waiting)


@transaction.atomic
def attendee_promote(*, attendee: Attendee) -> None:
    """The organizer registers someone from the waitlist by hand (out of order)."""
    party = attendee.party
    if attendee.place not in (Place.WAITLISTED, Place.OFFERED):
        raise PartyError("Only someone on the waitlist can be registered from it.")
    if attendee.place == Place.WAITLISTED and not seat_take(party.pk):
        raise PartyError(f"{FULL} Raise its capacity, or cancel someone's place first.")
    _promote(attendee, party, was=attendee.place)


@transaction.atomic
def offer_claim(*, attendee: Attendee) -> None:
    """The person takes the place they were offered, before the offer ends."""
    now = timezone.now()
    claimed = Attendee.objects.filter(
        pk=attendee.pk, place=Place.OFFERED, offer_expires_at__gt=now
    ).update(place=Place.REGISTERED, offer_expires_at=None, sync_state=SyncState.PENDING)
    if not claimed:
        attendee.refresh_from_db()
        if attendee.place == Place.REGISTERED:
            return  # claimed already (a second click)
        if attendee.party.is_cancelled:
            raise PartyError(_("This party was cancelled: there is no place to claim."))
        raise PartyError(_("This offer has ended: the place went to the next person waiting."))
    attendee.refresh_from_db()
    tasks.party_sync_request(party_id=attendee.party_id)  # the party's row first
    _registered(attendee, attendee.party, from_waitlist=True)


@transaction.atomic
def offers_expire(*, party: Party) -> int:
    """Offers whose claim window ended leave the waitlist; their places go to the next people."""
    now = timezone.now()
    expired = list(
        Attendee.objects.select_for_update().filter(
            party=party, place=Place.OFFERED, offer_expires_at__lte=now
        )
    )
    for attendee in expired:
        attendee_cancel(attendee=attendee, by=BY_OFFER_EXPIRY)
    return len(expired)


@transaction.atomic
def attendee_cancel(*, attendee: Attendee, by: str, announce: bool = True) -> bool:
    """Cancel a registration, an offer or a waitlist place: a held place is freed and goes to
    the first person waiting, the party's Klaviyo list loses them (their consent stays), and
    `Cancelled Party Registration` is written unless `announce` is off (an erasure: nobody
    is emailed about it). False if it was cancelled already."""
    locked = Attendee.objects.select_for_update().select_related("party").get(pk=attendee.pk)
    held = locked.place in SEATED_PLACES
    # The guard: a registration is cancelled once (one event, one place freed).
    if (
        not Attendee.objects.filter(pk=locked.pk)
        .exclude(place=Place.CANCELLED)
        .update(
            place=Place.CANCELLED,
            cancelled_at=timezone.now(),
            cancelled_by=by,
            offer_expires_at=None,
            sync_state=SyncState.PENDING,
            state_reason="",
        )
    ):
        return False
    party = locked.party
    # The party's row before the account's event sender, as a signup takes them.
    if held:
        seat_give_back(party.pk)
        waitlist_promote(party)
    tasks.party_sync_request(party_id=party.pk)
    events_withdraw(
        PartyEvent.objects.filter(attendee=locked, metric=PartyMetric.STARTING_SOON),
        "The registration was cancelled before this reminder was sent.",
    )
    locked.refresh_from_db()
    if announce:
        _event(
            locked,
            party,
            PartyMetric.REGISTRATION_CANCELLED,
            occurrence=f"{locked.registrations}",
            extra={"cancelled_by": by},
        )
    attendee.refresh_from_db()
    return True


@transaction.atomic
def capacity_change(*, party: Party, capacity: int | None, promote: bool = True) -> list[Attendee]:
    """Set the party's capacity (None: no limit); never below the places held now, counted
    afresh (a party without a capacity counts none as it goes). A raise promotes the first
    people waiting, unless `promote` is off: the caller takes the places it made, in the
    same transaction (a walk-in let in over capacity at the door takes the one it added)."""
    signups_gate_shut(party.pk)
    Party.objects.select_for_update().filter(pk=party.pk).values_list("pk").get()
    held = Attendee.objects.filter(party_id=party.pk, place__in=SEATED_PLACES).count()
    if capacity is not None and capacity < held:
        raise PartyError(
            f"{held} people hold places: the capacity cannot go below that. "
            "Cancel someone's place first."
        )
    Party.objects.filter(pk=party.pk).update(capacity=capacity, seats_taken=held)
    party.capacity, party.seats_taken = capacity, held
    return waitlist_promote(party) if promote else []


def _promote(attendee: Attendee, party: Party, *, was: str = Place.WAITLISTED) -> None:
    Attendee.objects.filter(pk=attendee.pk, place=was).update(
        place=Place.REGISTERED, offer_expires_at=None, sync_state=SyncState.PENDING
    )
    attendee.refresh_from_db()
    _registered(attendee, party, from_waitlist=True)
    tasks.party_sync_request(party_id=party.pk)


def _offer(attendee: Attendee, party: Party) -> None:
    hours = party.claim_window_hours or 0
    # To the second: the deadline people are told is the one that holds.
    deadline = (timezone.now() + timedelta(hours=hours)).replace(microsecond=0)
    Attendee.objects.filter(pk=attendee.pk, place=Place.WAITLISTED).update(
        place=Place.OFFERED, offer_expires_at=deadline
    )
    attendee.refresh_from_db()
    _event(
        attendee,
        party,
        PartyMetric.OFFERED_SPOT,
        occurrence=f"{attendee.registrations}-{int(deadline.timestamp())}",
        extra={
            "offer_expires_at": local_iso(deadline, party.organization.time_zone),
            "offer_expires_at_local": local_time_words(deadline, party.organization.time_zone),
            "claim_window_hours": hours,
        },
    )
    tasks.offer_expiry_schedule(attendee=attendee)


def _registered(attendee: Attendee, party: Party, *, from_waitlist: bool) -> None:
    _event(
        attendee,
        party,
        PartyMetric.REGISTERED,
        occurrence=f"{attendee.registrations}",
        extra=registration_properties(attendee, from_waitlist=from_waitlist),
    )


def _event(
    attendee: Attendee,
    party: Party,
    metric: PartyMetric,
    *,
    occurrence: str,
    extra: dict[str, Any],
) -> None:
    attendee_event_record(attendee, metric, occurrence=occurrence, extra=extra, party=party)
    tasks.events_send_request(connection_id=party.connection_id)
