"""Sending: claim a batch of pending attendees, send it as one profile import job and one
subscribe job, within the window rule.

The window rule: *while a rush lasts, a party sends at most one import and one subscribe per
coalescing window (`PARTY_SYNC_WINDOW_SECONDS`); only a full batch of 1,000 may be followed
at once by another.* The party's send gate (`gates.SEND_GATE`) holds it; Klaviyo's
Retry-After and the backoff after an outage move the gate too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet
from django.utils import timezone

from core.outbox import claim_batch as claim_outbox_batch
from integrations.klaviyo.bodies import MAX_SUBSCRIBE_BATCH
from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.errors import KlaviyoError
from integrations.klaviyo.refusals import indexed_by, send_without_refused
from integrations.services import connection_record_success
from parties.models import Attendee, Party, SyncState
from parties.sync.config import sync_config
from parties.sync.gates import SEND_GATE, renew_party_lease
from parties.sync.outcomes import KLAVIYO_STOPS, SyncReport, reason, stop_for

# A profile's index in a rejected bulk body, from Klaviyo's `source.pointer`.
PROFILE_POINTER = re.compile(r"/profiles/data/(\d+)")


def send_due(party: Party, client: KlaviyoClient, holder: str, report: SyncReport) -> None:
    """Send what the window allows: one batch, or back-to-back batches while they are full."""
    while SEND_GATE.is_open(party.pk):
        renew_party_lease(party.pk, holder)
        batch, claimed_at = claim_batch(party)
        if not batch:
            return
        report.batches += 1
        _send_batch(party, client, batch, claimed_at, report)
        if len(batch) < MAX_SUBSCRIBE_BATCH:
            # A partial batch: what trickles in next waits for the window.
            SEND_GATE.close_for(party.pk, sync_config().window.total_seconds())
            return


def claim_batch(party: Party) -> tuple[list[Attendee], datetime]:
    """Mark up to one batch of *pending* attendees `syncing` (`core.outbox.claim_batch`: the
    state filter is the guard, so an attendee already sent, confirmed or claimed by another
    worker is never claimed again)."""
    claimed_at = timezone.now()
    ids = claim_outbox_batch(
        Attendee.objects.filter(party=party),
        size=MAX_SUBSCRIBE_BATCH,
        state_field="sync_state",
        waiting_state=SyncState.PENDING,
        claimed_state=SyncState.SYNCING,
        updates={
            "claimed_at": claimed_at,
            # Set again just before the subscribe call: recovery reads it as "may have
            # reached Klaviyo".
            "sent_at": None,
            "attempts": F("attempts") + 1,
            "updated_at": claimed_at,
        },
    )
    return list(Attendee.objects.filter(pk__in=ids).order_by("pk")), claimed_at


def _profile(attendee: Attendee) -> dict[str, Any]:
    return {
        "email": attendee.email,
        "first_name": attendee.first_name,
        "last_name": attendee.last_name,
        "properties": {"pet_name": attendee.pet_name, "pet_type": attendee.pet_type},
    }


def _send_batch(
    party: Party,
    client: KlaviyoClient,
    batch: list[Attendee],
    claimed_at: datetime,
    report: SyncReport,
) -> None:
    """One import job and one subscribe job for the batch; the attendees become `sent`."""
    source = f"Partyline signup: {party.name}"[:255]
    job_ids: list[str] = []
    try:
        remaining = _with_profile_rejections(
            batch,
            claimed_at,
            report,
            lambda people: job_ids.append(
                client.bulk_import_profiles(profiles=[_profile(a) for a in people]).id
            ),
        )
        # Progress is written down before the next call, so a run killed between the two
        # calls is recovered without repeating what reached Klaviyo (see `gates.recover_claims`).
        _claimed(remaining, claimed_at).update(
            import_job_id=job_ids[-1] if job_ids else "", sent_at=timezone.now()
        )
        # Someone already confirmed in the list (and back with new details) needs only the
        # profile update: never a second subscription (or a second confirmation email).
        to_subscribe = [attendee for attendee in remaining if attendee.synced_at is None]
        if to_subscribe:
            subscribed = _with_profile_rejections(
                to_subscribe,
                claimed_at,
                report,
                lambda people: client.subscribe_profiles(
                    list_id=party.klaviyo_list_id,
                    emails_with_consent=[a.email for a in people],
                    custom_source=source,
                ),
            )
            rejected = {a.pk for a in to_subscribe} - {a.pk for a in subscribed}
            remaining = [a for a in remaining if a.pk not in rejected]
    except KLAVIYO_STOPS as error:
        release(batch, claimed_at)
        raise stop_for(party, error) from None
    except BaseException:
        release(batch, claimed_at)
        raise

    now = timezone.now()
    report.sent += _claimed(remaining, claimed_at).update(
        sync_state=SyncState.SENT, sent_at=now, checked_at=None, state_reason="", updated_at=now
    )
    connection_record_success(connection=party.connection)


def _claimed(attendees: Sequence[Attendee], claimed_at: datetime) -> QuerySet[Attendee]:
    """These attendees, while they are still this run's claim (a re-signup meanwhile made
    them pending again, and they are then left alone)."""
    return Attendee.objects.filter(
        pk__in=[a.pk for a in attendees], sync_state=SyncState.SYNCING, claimed_at=claimed_at
    )


def _with_profile_rejections(
    people: list[Attendee],
    claimed_at: datetime,
    report: SyncReport,
    send: Callable[[list[Attendee]], Any],
) -> list[Attendee]:
    """Send; when Klaviyo rejects one profile (a 4xx pointing at it), fail only that
    attendee with Klaviyo's reason and send the rest again."""

    def refused(attendees: list[Attendee], error: KlaviyoError) -> None:
        report.failed += _fail(attendees, claimed_at, reason(error))

    return send_without_refused(people, send, locate=indexed_by(PROFILE_POINTER), refused=refused)


def _fail(attendees: Sequence[Attendee], claimed_at: datetime, why: str) -> int:
    return _claimed(attendees, claimed_at).update(
        sync_state=SyncState.FAILED, state_reason=why[:500], updated_at=timezone.now()
    )


def release(attendees: Sequence[Attendee], claimed_at: datetime) -> None:
    """Put a claimed batch back to pending: Klaviyo answered with an error, so nothing of
    the failed call was done and it is simply tried later."""
    _claimed(attendees, claimed_at).update(sync_state=SyncState.PENDING, updated_at=timezone.now())
