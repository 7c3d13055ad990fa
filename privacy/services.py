"""Erasure and export of a person's data, and the audit of both (never the address itself).

An erased registration becomes a tombstone: the row stays, so the party's counts stay true,
but their name, answers, consent record link, private link and events' contents go at once,
a place they held at an upcoming party is freed (nobody is emailed about it), and the party's
sync takes them out of its Klaviyo list. Their address is kept only until Klaviyo shows them
out of the list (the sync needs it to find them there), at most `REMOVAL_WAIT`; the periodic
pass (`erasures_finish`) then replaces it.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.models import Organization, User, normalize_email
from parties import places, tasks
from parties.models import (
    Attendee,
    EventState,
    Party,
    PartyEvent,
    Place,
    Reconciliation,
    SyncState,
    new_manage_token,
)
from privacy.models import PrivacyRecord, RequestKind

# A tombstone's address: unique per row (the party's one-signup-per-address rule), nobody's.
ERASED_DOMAIN = "erased.invalid"
# How long an erased person's address waits for Klaviyo to show them out of the list.
REMOVAL_WAIT = timedelta(days=7)
# Events never sent (waiting, or withdrawn by the cancellation of their place) are dropped; the
# others keep only their metric and state (the party page's counts).
UNSENT_EVENTS = (EventState.WAITING, EventState.WITHDRAWN)


def email_digest(*, organization: Organization, email: str) -> str:
    """A keyed hash of the address, scoped to the organization: the audit recognises the same
    person asking again without holding their address (keyed with SECRET_KEY)."""
    value = f"{organization.pk}:{normalize_email(email)}"
    return salted_hmac("privacy.email", value, algorithm="sha256").hexdigest()


def registrations_of(*, organization: Organization, email: str) -> QuerySet[Attendee]:
    """The person's registrations not erased yet, in the organization's parties."""
    return Attendee.objects.filter(
        party__organization=organization, email=normalize_email(email), erased_at__isnull=True
    )


@dataclass(frozen=True)
class Erasure:
    registrations: int
    events_dropped: int
    record: PrivacyRecord


def person_erase(
    *,
    organization: Organization,
    email: str,
    actor: User | None,
    kind: str = RequestKind.ERASURE,
) -> Erasure:
    """Erase everything of `email` in the organization's parties (its registrations become
    tombstones, see the module) and record that it was done."""
    attendees = list(registrations_of(organization=organization, email=email))
    return _erase(organization, attendees, email=email, actor=actor, kind=kind)


def attendee_erase(*, attendee: Attendee) -> Erasure:
    """The attendee erases their own registration from their page: that one only (the link
    proves it is theirs; their other registrations are the organizer's to erase)."""
    party = Party.objects.select_related("organization").get(pk=attendee.party_id)
    return _erase(
        party.organization,
        [attendee],
        email=attendee.email,
        actor=None,
        kind=RequestKind.SELF_ERASURE,
    )


def _erase(
    organization: Organization,
    attendees: list[Attendee],
    *,
    email: str,
    actor: User | None,
    kind: str,
    detail: str = "",
) -> Erasure:
    dropped = 0
    for attendee in attendees:
        dropped += _tombstone(attendee)
    _reconciliations_forget(organization, email)
    record = PrivacyRecord.objects.create(
        organization=organization,
        kind=kind,
        actor=actor,
        records=len(attendees),
        email_digest=email_digest(organization=organization, email=email),
        detail=detail,
    )
    return Erasure(registrations=len(attendees), events_dropped=dropped, record=record)


def _tombstone(attendee: Attendee) -> int:
    """Erase one registration (see the module); the events it dropped."""
    now = timezone.now()
    with transaction.atomic():
        party = Party.objects.get(pk=attendee.party_id)
        if attendee.place != Place.CANCELLED and party.ends_at_or_default > now:
            # Their place at an upcoming party goes to the next in line; nobody is told.
            places.attendee_cancel(attendee=attendee, by=places.BY_ERASURE, announce=False)
        events = PartyEvent.objects.filter(attendee_id=attendee.pk)
        dropped, _ = events.filter(state__in=UNSENT_EVENTS).delete()
        events.update(email="", first_name="", last_name="", properties={})
        locked = Attendee.objects.select_for_update().get(pk=attendee.pk)
        gone = locked.sync_state == SyncState.REMOVED or locked.claimed_at is None
        Attendee.objects.filter(pk=attendee.pk).update(
            first_name="",
            last_name="",
            pet_name="",
            pet_type="",
            # The old link stops working; the new one is given to nobody.
            manage_token=new_manage_token(),
            consent_wording=None,
            marketing_consent=False,
            offer_expires_at=None,
            erased_at=now,
            updated_at=now,
            # Out of the list through the party's sync, whatever their place.
            **({} if gone else {"sync_state": SyncState.PENDING, "state_reason": ""}),
        )
        if gone:  # never sent, or already out of the list: nothing left to find there
            _forget_address(attendee.pk, now)
        else:
            tasks.party_sync_request(party_id=attendee.party_id)
    return dropped


def _forget_address(attendee_id: int, now: datetime, why: str = "") -> None:
    Attendee.objects.filter(pk=attendee_id).update(
        email=f"erased-{attendee_id}@{ERASED_DOMAIN}",
        klaviyo_profile_id="",
        import_job_id="",
        sync_state=SyncState.FAILED if why else SyncState.REMOVED,
        refused_as_sent=bool(why),  # nothing a retry could do for a tombstone
        state_reason=why or "Erased: their details are gone.",
        updated_at=now,
    )


def _reconciliations_forget(organization: Organization, email: str) -> None:
    """Comparisons with Klaviyo list differences by address: theirs go."""
    address = normalize_email(email)
    for reconciliation in Reconciliation.objects.filter(
        party__organization=organization, differences__icontains=address
    ):
        reconciliation.differences = [
            row for row in reconciliation.differences if row.get("email") != address
        ]
        reconciliation.save(update_fields=["differences"])


def erasures_finish(*, now: datetime | None = None) -> int:
    """Replace the address of erased people Klaviyo shows out of the list, or who waited
    `REMOVAL_WAIT` for it (their list membership then stays in Klaviyo, and the row says so).
    How many were finished."""
    now = now or timezone.now()
    waiting = Attendee.objects.filter(erased_at__isnull=False).exclude(
        email__endswith=f"@{ERASED_DOMAIN}"
    )
    finished = 0
    for attendee_id, state, erased_at in waiting.filter(
        Q(sync_state=SyncState.REMOVED) | Q(erased_at__lte=now - REMOVAL_WAIT)
    ).values_list("pk", "sync_state", "erased_at"):
        why = ""
        if state != SyncState.REMOVED:
            why = (
                f"Erased on {erased_at:%Y-%m-%d}, but Klaviyo did not show them out of the "
                "party's list within a week: remove them there by hand."
            )
        _forget_address(attendee_id, now, why)
        finished += 1
    return finished


# --- Retention ---------------------------------------------------------------------------------


def retention_apply(*, now: datetime | None = None) -> int:
    """Erase the attendees of every party that ended longer ago than its organization's
    retention limit; one audit record per party. How many registrations were erased."""
    now = now or timezone.now()
    erased = 0
    organizations = Organization.objects.filter(attendee_retention_days__isnull=False)
    for organization in organizations:
        limit = timedelta(days=organization.attendee_retention_days or 0)
        for party in Party.objects.filter(organization=organization):
            if party.ends_at_or_default > now - limit:
                continue
            attendees = list(party.attendees.filter(erased_at__isnull=True))
            if not attendees:
                continue
            for attendee in attendees:
                _tombstone(attendee)
            PrivacyRecord.objects.create(
                organization=organization,
                kind=RequestKind.RETENTION,
                records=len(attendees),
                detail=f"Party {party.pk}, ended {party.ends_at_or_default:%Y-%m-%d}",
            )
            erased += len(attendees)
    return erased


# --- Export -------------------------------------------------------------------------------------


def person_data(*, attendees: QuerySet[Attendee]) -> dict[str, Any]:
    """Everything Partyline holds about these registrations (one person's), as plain data."""
    registrations = []
    for attendee in attendees.select_related("party", "consent_wording").order_by("pk"):
        wording = attendee.consent_wording
        registrations.append(
            {
                "party": attendee.party.name,
                "party_starts_at": attendee.party.starts_at.isoformat(),
                "email": attendee.email,
                "first_name": attendee.first_name,
                "last_name": attendee.last_name,
                "answers": {"pet_name": attendee.pet_name, "pet_type": attendee.pet_type},
                "place": attendee.get_place_display(),
                "signed_up_at": attendee.created_at.isoformat(),
                "cancelled_at": _iso(attendee.cancelled_at),
                "consent": {
                    "marketing_consent": attendee.marketing_consent,
                    "decided_at": attendee.consented_at.isoformat(),
                    "where": attendee.get_signup_source_display(),
                    "wording_version": wording.version if wording else None,
                    "wording": wording.marketing if wording else "",
                    "registration_statement": wording.registration if wording else "",
                },
                "klaviyo": {
                    "state": attendee.get_sync_state_display(),
                    "in_list_since": _iso(attendee.synced_at),
                    "profile_id": attendee.klaviyo_profile_id,
                },
                "events": [
                    {
                        "metric": event.get_metric_display(),
                        "occurred_at": event.occurred_at.isoformat(),
                        "state": event.get_state_display(),
                        "properties": event.properties,
                    }
                    for event in attendee.events.order_by("occurred_at", "pk")
                ],
                # Check-ins at the door are not recorded by Partyline yet.
                "check_ins": [],
            }
        )
    return {"exported_at": timezone.now().isoformat(), "registrations": registrations}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_archive(data: dict[str, Any]) -> bytes:
    """One download: the whole record as JSON, and the registrations and events as CSV."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("personal-data.json", json.dumps(data, indent=2, ensure_ascii=False))
        archive.writestr("registrations.csv", _csv(_registration_rows(data)))
        archive.writestr("events.csv", _csv(_event_rows(data)))
    return buffer.getvalue()


def _registration_rows(data: dict[str, Any]) -> list[list[object]]:
    rows: list[list[object]] = [
        [
            "party",
            "email",
            "first_name",
            "last_name",
            "pet_name",
            "pet_type",
            "place",
            "signed_up_at",
            "marketing_consent",
            "consent_decided_at",
            "consent_wording_version",
            "consent_wording",
            "signup_source",
        ]
    ]
    for r in data["registrations"]:
        consent = r["consent"]
        rows.append(
            [
                r["party"],
                r["email"],
                r["first_name"],
                r["last_name"],
                r["answers"]["pet_name"],
                r["answers"]["pet_type"],
                r["place"],
                r["signed_up_at"],
                "yes" if consent["marketing_consent"] else "no",
                consent["decided_at"],
                consent["wording_version"],
                consent["wording"],
                consent["where"],
            ]
        )
    return rows


def _event_rows(data: dict[str, Any]) -> list[list[object]]:
    rows: list[list[object]] = [["party", "metric", "occurred_at", "state"]]
    for r in data["registrations"]:
        for event in r["events"]:
            rows.append([r["party"], event["metric"], event["occurred_at"], event["state"]])
    return rows


def _csv(rows: list[list[object]]) -> str:
    out = io.StringIO()
    # Excel reads UTF-8 only with the byte-order mark, as the attendee CSV does.
    out.write("\ufeff")
    csv.writer(out).writerows(rows)
    return out.getvalue()


def person_export(*, organization: Organization, email: str, actor: User) -> bytes:
    """The organizer's export of everything about `email` in the organization, recorded."""
    attendees = Attendee.objects.filter(
        party__organization=organization, email=normalize_email(email)
    )
    archive = export_archive(person_data(attendees=attendees))
    PrivacyRecord.objects.create(
        organization=organization,
        kind=RequestKind.EXPORT,
        actor=actor,
        records=attendees.count(),
        email_digest=email_digest(organization=organization, email=email),
    )
    return archive


def attendee_export(*, attendee: Attendee) -> bytes:
    """The attendee's own registration, from their page (theirs only: see `attendee_erase`)."""
    party = Party.objects.select_related("organization").get(pk=attendee.party_id)
    archive = export_archive(person_data(attendees=Attendee.objects.filter(pk=attendee.pk)))
    PrivacyRecord.objects.create(
        organization=party.organization,
        kind=RequestKind.SELF_EXPORT,
        records=1,
        email_digest=email_digest(organization=party.organization, email=attendee.email),
    )
    return archive
