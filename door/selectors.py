"""Reads for the door: its parties, the guest list a phone keeps, a search, and the check-ins
as the party pages read them (`attendance_source`, registered with parties.attendance)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    BooleanField,
    Count,
    DateTimeField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import BaseExpression
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Organization
from door.models import CheckIn
from parties.attendance import AttendanceCounts, AttendanceSource
from parties.models import DEFAULT_PARTY_LENGTH, Attendee, Party, Place
from parties.search import search_terms

# A guest as the door's JSON carries them: in the list, one array per guest in this order
# (compact: 10,000 guests stay well under a megabyte compressed); in answers, an object.
GUEST_FIELDS = ("id", "first", "last", "email", "place", "code", "in", "by", "check_in")
PLACE_CODES = {
    Place.REGISTERED: "r",
    Place.WAITLISTED: "w",
    Place.OFFERED: "o",
    Place.CANCELLED: "c",
}
# A search answers this many guests at most: the phone shows a screenful.
SEARCH_LIMIT = 20
ATTENDEE_COLUMNS = ("pk", "first_name", "last_name", "email", "place", "checkin_code")


def door_parties(*, organization: Organization) -> QuerySet[Party]:
    """The organization's parties door staff may be checking guests in at: those of today
    (in the organization's zone, activated for the request) and those not over yet, soonest
    first; cancelled ones are left out."""
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    not_over = Q(ends_at__gte=now) | Q(
        ends_at__isnull=True, starts_at__gte=now - DEFAULT_PARTY_LENGTH
    )
    return (
        Party.objects.filter(organization=organization, cancelled_at__isnull=True)
        .filter(Q(starts_at__gte=today) | not_over)
        .order_by("starts_at", "pk")
    )


def _guests(party: Party) -> QuerySet[Attendee]:
    # An erased registration is nobody to let in.
    return Attendee.objects.filter(party=party, erased_at__isnull=True)


def _standing(party: Party, attendee_ids: list[int] | None = None) -> dict[int, CheckIn]:
    check_ins = CheckIn.objects.filter(party=party, undone_at__isnull=True).only(
        "attendee_id", "client_id", "checked_in_at", "device_time", "checked_in_by_name"
    )
    if attendee_ids is not None:
        check_ins = check_ins.filter(attendee_id__in=attendee_ids)
    return {check_in.attendee_id: check_in for check_in in check_ins}


def _row(values: tuple[Any, ...], check_in: CheckIn | None) -> list[Any]:
    pk, first, last, email, place, code = values
    if check_in is None:
        return [pk, first, last, email, PLACE_CODES[place], code, None, "", None]
    return [
        pk,
        first,
        last,
        email,
        PLACE_CODES[place],
        code,
        int(check_in.arrived_at.timestamp()),
        check_in.checked_in_by_name,
        str(check_in.client_id),
    ]


def guest_json(attendee: Attendee, check_in: CheckIn | None) -> dict[str, Any]:
    """One guest as the door's answers carry them (`GUEST_FIELDS` as keys)."""
    values = tuple(getattr(attendee, column) for column in ATTENDEE_COLUMNS)
    return dict(zip(GUEST_FIELDS, _row(values, check_in), strict=True))


@dataclass(frozen=True)
class GuestList:
    body: bytes
    etag: str


def guest_list(party: Party) -> GuestList:
    """The party's whole guest list as compact JSON, with its version: two queries whatever
    its size (the guests, then the check-ins standing). The version is the body's digest, so
    it changes exactly when anything the phone shows does."""
    standing = _standing(party)
    rows = [
        _row(values, standing.get(values[0]))
        for values in _guests(party).order_by("pk").values_list(*ATTENDEE_COLUMNS)
    ]
    guests = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(guests.encode()).hexdigest()[:32]
    fields = json.dumps(GUEST_FIELDS, separators=(",", ":"))
    body = f'{{"version":"{digest}","fields":{fields},"guests":{guests}}}'.encode()
    return GuestList(body=body, etag=f'"{digest}"')


def guests_find(party: Party, query: str) -> list[dict[str, Any]]:
    """Guests one of whose words starts with each word typed (accents and case ignored:
    "zoe ma" finds Zoë Martin), `SEARCH_LIMIT` at most: two queries whatever the party's
    size, the first reading only its precomputed words (`Attendee.door_search`)."""
    terms = search_terms(query)
    if not terms:
        return []
    found = _guests(party)
    for term in terms:
        found = found.filter(door_search__contains=f" {term}")
    attendees = list(
        found.order_by("first_name", "last_name", "pk").only(*ATTENDEE_COLUMNS)[:SEARCH_LIMIT]
    )
    standing = _standing(party, [attendee.pk for attendee in attendees])
    return [guest_json(attendee, standing.get(attendee.pk)) for attendee in attendees]


def guest_state(attendee: Attendee) -> dict[str, Any]:
    """One guest as they stand now (an answer to a device's check-in or undo)."""
    check_in = CheckIn.objects.filter(attendee=attendee, undone_at__isnull=True).first()
    return guest_json(attendee, check_in)


def check_ins_of(attendee: Attendee) -> QuerySet[CheckIn]:
    return CheckIn.objects.filter(attendee=attendee).order_by("checked_in_at", "pk")


# --- The party pages' attendance (parties.attendance) ------------------------------------------


def _standing_of_attendee() -> QuerySet[CheckIn]:
    return CheckIn.objects.filter(attendee=OuterRef("pk"), undone_at__isnull=True)


def _checked_in_at() -> BaseExpression:
    arrived = _standing_of_attendee().annotate(arrived=Coalesce("device_time", "checked_in_at"))
    return Subquery(arrived.values("arrived")[:1], output_field=DateTimeField())


def _walk_in() -> BaseExpression:
    walk_in = Subquery(_standing_of_attendee().values("walk_in")[:1], output_field=BooleanField())
    return Coalesce(walk_in, False)


def _counts(party: Party) -> AttendanceCounts:
    standing = Q(undone_at__isnull=True)
    counts = CheckIn.objects.filter(party=party).aggregate(
        recorded=Count("pk"),
        checked_in=Count("pk", filter=standing),
        walk_ins=Count("pk", filter=standing & Q(walk_in=True)),
        registered=Count("pk", filter=standing & Q(attendee__place=Place.REGISTERED)),
        last_in=Max("checked_in_at"),
        last_out=Max("undone_at"),
    )
    changes = [moment for moment in (counts["last_in"], counts["last_out"]) if moment]
    return AttendanceCounts(
        checked_in=counts["checked_in"],
        walk_ins=counts["walk_ins"],
        registered_checked_in=counts["registered"],
        recorded=counts["recorded"],
        last_change=max(changes) if changes else None,
    )


def attendance_source() -> AttendanceSource:
    return AttendanceSource(checked_in_at=_checked_in_at, walk_in=_walk_in, counts=_counts)
