"""Making a registration a tombstone, finishing it once Klaviyo shows it out of the list, and
retention limits (see `privacy.services` for what an erasure does and why)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.models import Organization, normalize_email
from parties import places, tasks
from parties.models import (
    ERASED_DOMAIN,
    Attendee,
    EventState,
    Party,
    PartyEvent,
    Place,
    Reconciliation,
    SyncState,
    erased_address,
    new_checkin_code,
    new_manage_token,
)
from privacy.models import PrivacyRecord, RequestKind

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


def tombstone(attendee: Attendee) -> int:
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
            door_search="",
            answers={},
            # Where they came from: a campaign's tags can be as personal as a name (an
            # affiliate's, a link sent to one person).
            utm_source="",
            utm_medium="",
            utm_campaign="",
            referrer_host="",
            # The old link stops working; the new one is given to nobody.
            manage_token=new_manage_token(),
            checkin_code=new_checkin_code(),
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
        email=erased_address(attendee_id),
        klaviyo_profile_id="",
        import_job_id="",
        sync_state=SyncState.FAILED if why else SyncState.REMOVED,
        refused_as_sent=bool(why),  # nothing a retry could do for a tombstone
        state_reason=why or "Erased: their details are gone.",
        updated_at=now,
    )


def reconciliations_forget(organization: Organization, email: str) -> None:
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
                tombstone(attendee)
            PrivacyRecord.objects.create(
                organization=organization,
                kind=RequestKind.RETENTION,
                records=len(attendees),
                detail=f"Party {party.pk}, ended {party.ends_at_or_default:%Y-%m-%d}",
            )
            erased += len(attendees)
    return erased
