"""What door staff do: check a guest in, undo it, register a walk-in.

Devices send each action with an id they made when the staff member tapped (they may have
been offline then), so however often a request arrives its action is applied once; and the
database holds one standing check-in per guest (`door_one_standing_check_in`), so two devices
letting in the same guest at the same moment make one check-in, and the second is told who
was first. Each outcome is a `DoorAnswer` the page shows as it is (its `message`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Membership, User, normalize_email
from accounts.timezones import zone_for
from door import tasks
from door.models import CheckIn
from parties import places
from parties import services as party_services
from parties.errors import PartyError
from parties.models import SEATED_PLACES, Attendee, ConsentWording, Party, Place, SignupSource

# A device's clock is believed for an offline check-in up to a day back (a phone that was
# offline all evening), and never ahead of the server's.
DEVICE_TIME_BACK = timedelta(days=1)
# A check-in racing an undo of the same guest is tried again this often before giving up.
ATTEMPTS = 3


class Outcome(StrEnum):
    CHECKED_IN = "checked_in"
    # Another check-in of the guest stands: who made it, and when, is in the message.
    ALREADY = "already_checked_in"
    # Waitlisted, offered a place not claimed, or cancelled: not theirs to come in.
    NOT_REGISTERED = "not_registered"
    UNDONE = "undone"
    NOT_CHECKED_IN = "not_checked_in"
    # The undo named a check-in, but another one stands now: nothing was undone.
    CHECKED_IN_SINCE = "checked_in_since"
    UNKNOWN_GUEST = "unknown_guest"
    PARTY_CANCELLED = "party_cancelled"
    # The client id belongs to another party's action (a device's bug, or a forgery).
    ID_REUSED = "client_id_reused"


# What the device asked for is how things now stand.
DONE = frozenset({Outcome.CHECKED_IN, Outcome.UNDONE, Outcome.NOT_CHECKED_IN})


@dataclass(frozen=True)
class DoorAnswer:
    outcome: Outcome
    message: str
    attendee: Attendee | None = None
    # The guest's standing check-in after the action (None: not checked in).
    check_in: CheckIn | None = None

    @property
    def done(self) -> bool:
        return self.outcome in DONE


class WalkInFull(PartyError):
    """The party is full, and nobody confirmed letting the walk-in in over its capacity."""


@dataclass(frozen=True)
class WalkIn:
    attendee: Attendee
    answer: DoorAnswer
    # They were registered already: checked in, not registered again.
    registered_before: bool


def staff_name(user: User) -> str:
    """How the door names who let a guest in: "by Ana" (the first word of their name, else
    their address before the @)."""
    name = user.full_name.strip()
    return name.split()[0] if name else user.email.split("@")[0]


def _clock(moment: datetime, party: Party) -> str:
    return timezone.localtime(moment, zone_for(party.organization.time_zone)).strftime("%H:%M")


def _name(attendee: Attendee) -> str:
    return f"{attendee.first_name} {attendee.last_name}".strip() or attendee.email


def _guest(party: Party, *, attendee_id: int | None, code: str) -> Attendee | None:
    guests = Attendee.objects.filter(party=party, erased_at__isnull=True)
    if code:
        return guests.filter(checkin_code=code).first()
    if attendee_id is not None:
        return guests.filter(pk=attendee_id).first()
    return None


def _standing(attendee: Attendee) -> CheckIn | None:
    return CheckIn.objects.filter(attendee=attendee, undone_at__isnull=True).first()


def _already(attendee: Attendee, standing: CheckIn, party: Party) -> DoorAnswer:
    return DoorAnswer(
        Outcome.ALREADY,
        f"Already checked in at {_clock(standing.arrived_at, party)} by "
        f"{standing.checked_in_by_name}.",
        attendee,
        standing,
    )


def _device_time(device_time: datetime | None, now: datetime) -> datetime | None:
    if device_time is None or device_time < now - DEVICE_TIME_BACK:
        return None
    return min(device_time, now)


NOT_REGISTERED = {
    Place.WAITLISTED: "{name} is on the waitlist, not registered.",
    Place.OFFERED: "{name} was offered a place but has not claimed it.",
    Place.CANCELLED: "{name} cancelled their registration.",
}


def _refusal(party: Party, attendee: Attendee) -> DoorAnswer | None:
    if party.is_cancelled:
        return DoorAnswer(
            Outcome.PARTY_CANCELLED, "This party was cancelled: nobody is checked in.", attendee
        )
    if attendee.place != Place.REGISTERED:
        reason = NOT_REGISTERED[Place(attendee.place)].format(name=_name(attendee))
        return DoorAnswer(
            Outcome.NOT_REGISTERED,
            f"{reason} To let them in, add them as a walk-in: that registers them.",
            attendee,
            _standing(attendee),
        )
    return None


def _repeated_check_in(check_in: CheckIn, party: Party) -> DoorAnswer:
    """A check-in sent again (its answer was lost on the way): the same answer, with the
    guest as they stand now."""
    if check_in.party_id != party.pk:
        return DoorAnswer(Outcome.ID_REUSED, "This check-in's id was used for another party.")
    attendee = check_in.attendee
    return DoorAnswer(
        Outcome.CHECKED_IN, f"{_name(attendee)} checked in.", attendee, _standing(attendee)
    )


def checkin_record(
    *,
    party: Party,
    membership: Membership,
    client_id: UUID,
    attendee_id: int | None = None,
    code: str = "",
    device_time: datetime | None = None,
    walk_in: bool = False,
) -> DoorAnswer:
    """Check a registered guest in (found by their id or their QR code's `code`), once per
    `client_id`; its event is planned for the end of the grace period (door.announce)."""
    repeated = CheckIn.objects.select_related("attendee").filter(client_id=client_id).first()
    if repeated is not None:
        return _repeated_check_in(repeated, party)
    attendee = _guest(party, attendee_id=attendee_id, code=code)
    if attendee is None:
        return DoorAnswer(Outcome.UNKNOWN_GUEST, "This guest is not on this party's list.")
    refusal = _refusal(party, attendee)
    if refusal is not None:
        return refusal
    now = timezone.now()
    for _attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                check_in = CheckIn.objects.create(
                    party=party,
                    attendee=attendee,
                    client_id=client_id,
                    checked_in_at=now,
                    device_time=_device_time(device_time, now),
                    checked_in_by=membership.user,
                    checked_in_by_name=staff_name(membership.user),
                    walk_in=walk_in,
                )
                tasks.announce_schedule(check_in)
        except IntegrityError:
            # The same request arrived twice at once, or another check-in of the guest
            # stands (the database refused a second): answer as it stands now.
            repeated = (
                CheckIn.objects.select_related("attendee").filter(client_id=client_id).first()
            )
            if repeated is not None:
                return _repeated_check_in(repeated, party)
            standing = _standing(attendee)
            if standing is not None:
                return _already(attendee, standing, party)
            continue  # the standing one was undone meanwhile: try again
        return DoorAnswer(Outcome.CHECKED_IN, f"{_name(attendee)} checked in.", attendee, check_in)
    standing = _standing(attendee)
    if standing is None:  # three undos raced three tries
        raise PartyError("The check-in could not be recorded: try again.")
    return _already(attendee, standing, party)


def checkin_undo(
    *,
    party: Party,
    membership: Membership,
    client_id: UUID,
    attendee_id: int | None = None,
    code: str = "",
    check_in_id: UUID | None = None,
) -> DoorAnswer:
    """Undo the guest's standing check-in, once per `client_id`. `check_in_id`: the client id
    of the check-in the device saw; when another stands now (someone checked them in again
    since), nothing is undone and the answer says so. The row stays, marked undone; an event
    not sent yet is then never sent (door.announce)."""
    done = CheckIn.objects.select_related("attendee").filter(undo_client_id=client_id).first()
    if done is not None:
        if done.party_id != party.pk:
            return DoorAnswer(Outcome.ID_REUSED, "This undo's id was used for another party.")
        return DoorAnswer(
            Outcome.UNDONE,
            f"Check-in of {_name(done.attendee)} undone.",
            done.attendee,
            _standing(done.attendee),
        )
    attendee = _guest(party, attendee_id=attendee_id, code=code)
    if attendee is None:
        return DoorAnswer(Outcome.UNKNOWN_GUEST, "This guest is not on this party's list.")
    standing = _standing(attendee)
    if standing is None:
        return DoorAnswer(Outcome.NOT_CHECKED_IN, f"{_name(attendee)} is not checked in.", attendee)
    if check_in_id is not None and standing.client_id != check_in_id:
        return DoorAnswer(
            Outcome.CHECKED_IN_SINCE,
            f"{_name(attendee)} was checked in again at {_clock(standing.arrived_at, party)} by "
            f"{standing.checked_in_by_name}: nothing was undone.",
            attendee,
            standing,
        )
    # The guard: a check-in is undone once (a racing undo finds it undone already).
    undone = CheckIn.objects.filter(pk=standing.pk, undone_at__isnull=True).update(
        undone_at=timezone.now(), undone_by=membership.user, undo_client_id=client_id
    )
    if not undone:
        return checkin_undo(
            party=party,
            membership=membership,
            client_id=client_id,
            attendee_id=attendee.pk,
            check_in_id=check_in_id,
        )
    return DoorAnswer(Outcome.UNDONE, f"Check-in of {_name(attendee)} undone.", attendee, None)


def walk_in_register(
    *,
    party: Party,
    membership: Membership,
    client_id: UUID,
    data: dict[str, Any],
    wording: ConsentWording,
    over_capacity: bool,
) -> WalkIn:
    """Register someone at the door, with the consent they gave on the staff's device
    (`wording`, signup source "door"), and check them in at once (a walk-in, let in by
    `membership`). Someone registered already is checked in instead; someone waiting, offered
    a place or cancelled is registered. A full party takes them only `over_capacity`: its
    capacity goes up by one for them (WalkInFull otherwise, with nothing saved). The form
    sent twice registers and checks in once: the second finds them registered, and its
    check-in is the first's (`client_id`)."""
    if party.is_cancelled:
        raise PartyError("This party was cancelled: nobody is checked in.")
    existing = Attendee.objects.filter(
        party=party, email=normalize_email(data["email"]), erased_at__isnull=True
    ).first()
    if existing is not None and existing.place == Place.REGISTERED:
        answer = checkin_record(
            party=party, membership=membership, client_id=client_id, attendee_id=existing.pk
        )
        return WalkIn(existing, answer, registered_before=True)
    with transaction.atomic():
        party = _place_made(
            party,
            holds_place=existing is not None and existing.place in SEATED_PLACES,
            over_capacity=over_capacity,
        )
        attendee, _created = party_services.attendee_register(
            party=party, data=data, signup_source=SignupSource.DOOR, wording=wording
        )
        if attendee.place in (Place.WAITLISTED, Place.OFFERED):
            # Waiting for a place and standing at the door: theirs now.
            places.attendee_promote(attendee=attendee)
            attendee.refresh_from_db()
        answer = checkin_record(
            party=party,
            membership=membership,
            client_id=client_id,
            attendee_id=attendee.pk,
            walk_in=True,
        )
    return WalkIn(attendee, answer, registered_before=False)


def _place_made(party: Party, *, holds_place: bool, over_capacity: bool) -> Party:
    """The party, with a place free for the walk-in: at a full party, one more (its capacity
    raised by one, the place kept for them) when `over_capacity`, else WalkInFull. Decided
    with the party's signup gate held alone and its row locked, so no signup takes it."""
    if party.capacity is None or holds_place:
        return party
    places.signups_gate_shut(party.pk)
    locked = Party.objects.select_for_update().select_related("organization").get(pk=party.pk)
    if not locked.is_full:
        return locked
    if not over_capacity:
        raise WalkInFull(
            f"The party is full ({locked.seats_taken} of {locked.capacity} places taken). "
            "Tick “Let them in over capacity” to add a place for them."
        )
    places.capacity_change(party=locked, capacity=(locked.capacity or 0) + 1, promote=False)
    return locked
