"""Erasure and export of a person's data, and the audit of both (never the address itself).

An erased registration becomes a tombstone: the row stays, so the party's counts stay true,
but their name, answers, consent record link, private link and events' contents go at once,
a place they held at an upcoming party is freed (nobody is emailed about it), and the party's
sync takes them out of its Klaviyo list. Their address is kept only until Klaviyo shows them
out of the list (the sync needs it to find them there), at most a week; the periodic pass
then replaces it (`privacy.erasure`). Asking Klaviyo to delete the profile itself is
`privacy.deletions`.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Organization, User, normalize_email
from door.selectors import check_ins_of
from parties.models import Attendee, Party
from parties.questions import answer_text
from privacy import tasks as privacy_tasks
from privacy.erasure import email_digest, reconciliations_forget, tombstone
from privacy.models import KlaviyoDeletion, PrivacyRecord, RequestKind


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
    klaviyo_delete: bool = False,
) -> Erasure:
    """Erase everything of `email` in the organization's parties (its registrations become
    tombstones, see the module) and record that it was done. With `klaviyo_delete` (only
    when the organization turned the option on), each Klaviyo account their registrations
    went to is also asked to delete their profile, in the background."""
    attendees = list(registrations_of(organization=organization, email=email))
    connection_ids = {a.party.connection_id for a in attendees} if klaviyo_delete else set()
    erasure = _erase(organization, attendees, email=email, actor=actor, kind=kind)
    if connection_ids and organization.klaviyo_deletion_enabled:
        klaviyo_deletion_request(
            organization=organization, email=email, actor=actor, connection_ids=connection_ids
        )
    return erasure


def klaviyo_deletion_request(
    *, organization: Organization, email: str, actor: User | None, connection_ids: set[int]
) -> PrivacyRecord:
    """Ask these Klaviyo accounts to delete the person's profile (every list, event and flow
    history of theirs there, not only Partyline's): one task per account; the address waits
    encrypted in `KlaviyoDeletion`, never in a task."""
    with transaction.atomic():
        record = PrivacyRecord.objects.create(
            organization=organization,
            kind=RequestKind.KLAVIYO_DELETION,
            actor=actor,
            email_digest=email_digest(organization=organization, email=email),
            detail=f"Asked of {len(connection_ids)} Klaviyo account(s)",
        )
        for connection_id in sorted(connection_ids):
            deletion = KlaviyoDeletion.objects.create(
                record=record, connection_id=connection_id, email=normalize_email(email)
            )
            # The task row commits with the request's row (django-tasks-db): never one
            # without the other.
            privacy_tasks.klaviyo_deletion_send.enqueue(deletion_id=deletion.pk)
    return record


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
        dropped += tombstone(attendee)
    reconciliations_forget(organization, email)
    record = PrivacyRecord.objects.create(
        organization=organization,
        kind=kind,
        actor=actor,
        records=len(attendees),
        email_digest=email_digest(organization=organization, email=email),
        detail=detail,
    )
    return Erasure(registrations=len(attendees), events_dropped=dropped, record=record)


# --- Export -------------------------------------------------------------------------------------


def person_data(*, attendees: QuerySet[Attendee]) -> dict[str, Any]:
    """Everything Partyline holds about these registrations (one person's), as plain data."""
    registrations = []
    rows = attendees.select_related("party", "consent_wording").prefetch_related("party__questions")
    for attendee in rows.order_by("pk"):
        wording = attendee.consent_wording
        registrations.append(
            {
                "party": attendee.party.name,
                "party_starts_at": attendee.party.starts_at.isoformat(),
                "email": attendee.email,
                "first_name": attendee.first_name,
                "last_name": attendee.last_name,
                # Under each question's words then (a removed question's too), and its key.
                "answers": [
                    {"question": label, "key": key, "answer": attendee.answers[key]}
                    for key, label in _answer_labels(attendee)
                ],
                # Where they came from when they signed up (the first time).
                "attribution": {
                    "utm_source": attendee.utm_source,
                    "utm_medium": attendee.utm_medium,
                    "utm_campaign": attendee.utm_campaign,
                    "referrer_host": attendee.referrer_host,
                },
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
                # Their check-ins at the door (an undone one too: it was recorded).
                "check_ins": [
                    {
                        "checked_in_at": check_in.arrived_at.isoformat(),
                        "walk_in": check_in.walk_in,
                        "undone_at": _iso(check_in.undone_at),
                    }
                    for check_in in check_ins_of(attendee)
                ],
            }
        )
    return {"exported_at": timezone.now().isoformat(), "registrations": registrations}


def _answer_labels(attendee: Attendee) -> list[tuple[str, str]]:
    """Each of the attendee's answer keys with its question's words (the key itself when
    the question is gone)."""
    labels = {question.key: question.label for question in attendee.party.questions.all()}
    return [(key, labels.get(key, key)) for key in attendee.answers]


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
            "answers",
            "place",
            "signed_up_at",
            "marketing_consent",
            "consent_decided_at",
            "consent_wording_version",
            "consent_wording",
            "signup_source",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "referrer_host",
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
                "; ".join(f"{a['question']}: {answer_text(a['answer'])}" for a in r["answers"]),
                r["place"],
                r["signed_up_at"],
                "yes" if consent["marketing_consent"] else "no",
                consent["decided_at"],
                consent["wording_version"],
                consent["wording"],
                consent["where"],
                r["attribution"]["utm_source"],
                r["attribution"]["utm_medium"],
                r["attribution"]["utm_campaign"],
                r["attribution"]["referrer_host"],
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
