"""Parties and the attendee pipeline.

A signup is saved in the request's transaction and the attendee sees success at once; the
request never waits for Klaviyo. Attendees are the outbox: a background sync per party
claims pending rows in a short transaction (`SELECT ... FOR UPDATE SKIP LOCKED` on
PostgreSQL), commits, and only then calls Klaviyo, sending each batch of up to 1,000 as one
profile bulk import job (names, pet name, pet type) and one bulk subscribe job (email
marketing consent and the list): two write calls per batch.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Membership, normalize_email
from integrations.fields import SecretDecryptionError
from integrations.klaviyo.client import MAX_SUBSCRIBE_BATCH
from integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoError,
    KlaviyoNotFound,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
)
from integrations.models import ConnectionStatus, KlaviyoConnection
from integrations.services import connection_record_success, klaviyo_client
from integrations.tokens import ConnectionUnusable
from parties.models import Attendee, ListState, Party, SyncState

logger = logging.getLogger(__name__)

# A sync holds its party's lease this long, renewed before every batch; a killed worker's
# lease simply runs out.
SYNC_LEASE = timedelta(minutes=5)
# `syncing` rows older than this belong to a worker that died; the sweep puts them back.
STALE_CLAIM = timedelta(minutes=10)
# Pending rows older than this get their party's sync enqueued again by the sweep.
PENDING_GRACE = timedelta(minutes=2)
MAX_BACKOFF_SECONDS = 300
LIST_RETRY_SECONDS = 60
# A profile's index in a rejected bulk body, from Klaviyo's `source.pointer`.
PROFILE_POINTER = re.compile(r"/profiles/data/(\d+)")


class PartyError(Exception):
    """Something the person can fix or needs to know; the message is for them."""


@dataclass(frozen=True)
class ListOutcome:
    """What happened on Klaviyo's side of a party change, said plainly."""

    ok: bool
    message: str


@dataclass(frozen=True)
class Reconciliation:
    matched: int
    missing_in_klaviyo: list[Attendee]
    only_in_klaviyo: list[dict[str, str]]


@dataclass
class SyncReport:
    synced: int = 0
    failed: int = 0
    batches: int = 0
    outcome: str = "done"
    retry_in: float | None = None
    notes: list[str] = field(default_factory=list)


# --- Parties --------------------------------------------------------------------------------


PARTY_FIELDS = ("name", "starts_at", "address", "address2", "city", "state", "description")


def party_create(
    *, membership: Membership, connection: KlaviyoConnection, data: dict[str, Any]
) -> tuple[Party, ListOutcome]:
    """Save the party first (nothing is lost if Klaviyo is down), then create its list."""
    if connection.organization_id != membership.organization_id:
        raise PartyError("Choose one of your organization's Klaviyo connections.")
    party = Party.objects.create(
        organization=membership.organization,
        connection=connection,
        created_by=membership.user,
        **{key: data[key] for key in PARTY_FIELDS if key in data},
    )
    return party, party_sync_list(party=party)


def party_update(*, party: Party, data: dict[str, Any]) -> tuple[Party, ListOutcome]:
    for key in PARTY_FIELDS:
        if key in data:
            setattr(party, key, data[key])
    party.save()
    if party.klaviyo_list_id and party.klaviyo_list_name == party.name:
        return party, ListOutcome(ok=True, message="")
    return party, party_sync_list(party=party)


def party_set_signups_open(*, party: Party, is_open: bool) -> Party:
    party.signups_open = is_open
    party.save(update_fields=["signups_open"])
    return party


def party_delete(*, party: Party, delete_klaviyo_list: bool) -> ListOutcome:
    """Delete the party and its signups here; optionally its Klaviyo list too."""
    outcome = ListOutcome(ok=True, message="")
    if delete_klaviyo_list and party.klaviyo_list_id:
        try:
            klaviyo_client(connection=party.connection).delete_list(list_id=party.klaviyo_list_id)
        except KlaviyoNotFound:
            pass
        except (KlaviyoError, ConnectionUnusable, SecretDecryptionError) as error:
            outcome = ListOutcome(
                ok=False,
                message=(
                    "The Klaviyo list could not be deleted "
                    f"({_reason(error)}); delete it in Klaviyo if you no longer want it."
                ),
            )
    party.delete()
    return outcome


def party_sync_list(*, party: Party) -> ListOutcome:
    """Create the party's Klaviyo list, or rename it to the party's name.

    On a transient failure the party keeps its list `pending` and a task tries again; the
    returned message says so in words an organizer understands.
    """
    try:
        client = klaviyo_client(connection=party.connection)
        if party.klaviyo_list_id:
            client.update_list(list_id=party.klaviyo_list_id, name=party.name)
        else:
            created = client.create_list(name=party.name)
            party.klaviyo_list_id = str(created["id"])
    except KlaviyoRateLimited as error:
        wait = max(error.retry_after, 1.0)
        _set_list_state(party, ListState.PENDING, "Klaviyo is limiting list changes right now.")
        party_request_sync(party=party, delay=wait)  # the sync creates the list first
        return ListOutcome(
            ok=False,
            message=(
                "Klaviyo is limiting how many lists can be created or changed right now (at "
                "most 150 new lists a day). The party is saved and its Klaviyo list will be "
                f"updated automatically in about {_duration(wait)}."
            ),
        )
    except (KlaviyoUnavailable, KlaviyoAuthError) as error:
        _set_list_state(party, ListState.PENDING, _reason(error))
        party_request_sync(party=party, delay=LIST_RETRY_SECONDS)
        return ListOutcome(
            ok=False,
            message=(
                "Klaviyo could not be reached. The party is saved and its Klaviyo list will be "
                "updated automatically as soon as Klaviyo answers."
            ),
        )
    except ConnectionUnusable:
        _set_list_state(party, ListState.PENDING, "The Klaviyo connection needs reconnecting.")
        return ListOutcome(
            ok=False,
            message=(
                "The party is saved, but its Klaviyo connection needs reconnecting. Reconnect "
                "it under Integrations and the list will be created then."
            ),
        )
    except SecretDecryptionError:
        logger.exception("Cannot read the tokens of connection %s", party.connection_id)
        _set_list_state(party, ListState.PENDING, "The server cannot read its Klaviyo tokens.")
        return ListOutcome(
            ok=False,
            message="The party is saved; the Klaviyo list waits for your operator to fix a "
            "server configuration problem.",
        )
    except KlaviyoError as error:
        _set_list_state(party, ListState.FAILED, _reason(error))
        return ListOutcome(
            ok=False,
            message=f"Klaviyo refused the list: {_reason(error)}. Edit the party to try again.",
        )

    party.klaviyo_list_name = party.name
    party.list_state = ListState.READY
    party.list_error = ""
    party.save(update_fields=["klaviyo_list_id", "klaviyo_list_name", "list_state", "list_error"])
    connection_record_success(connection=party.connection)
    # Signups may have arrived while the list was pending.
    if party.attendees.filter(sync_state=SyncState.PENDING).exists():
        party_request_sync(party=party, force=True)
    return ListOutcome(ok=True, message="Its Klaviyo list is ready.")


def _set_list_state(party: Party, state: str, reason: str) -> None:
    party.list_state = state
    party.list_error = reason[:500]
    party.save(update_fields=["list_state", "list_error", "klaviyo_list_id"])


# --- Signups --------------------------------------------------------------------------------


ATTENDEE_FIELDS = ("first_name", "last_name", "pet_name", "pet_type")


def attendee_register(*, party: Party, data: dict[str, Any], source: str) -> tuple[Attendee, bool]:
    """Save a signup (or update the same email's) and schedule the party's sync.

    The task row is written in the same transaction as the attendee, so the sync is enqueued
    exactly when the signup commits, and not at all if it does not.
    """
    if not party.signups_open:
        raise PartyError("Signups for this party are closed.")
    email = normalize_email(data["email"])
    details = {key: (data.get(key) or "").strip() for key in ATTENDEE_FIELDS}
    now = timezone.now()
    with transaction.atomic():
        attendee, created = Attendee.objects.select_for_update().get_or_create(
            party=party,
            email=email,
            defaults={**details, "consented_at": now, "consent_source": source[:255]},
        )
        if not created:
            changed = any(getattr(attendee, key) != value for key, value in details.items())
            for key, value in details.items():
                setattr(attendee, key, value)
            if changed or attendee.sync_state == SyncState.FAILED:
                attendee.sync_state = SyncState.PENDING
                attendee.last_error = ""
            attendee.save()
        if attendee.sync_state == SyncState.PENDING:
            party_request_sync(party=party)
    return attendee, created


def attendee_retry(*, attendee: Attendee) -> None:
    Attendee.objects.filter(pk=attendee.pk, sync_state=SyncState.FAILED).update(
        sync_state=SyncState.PENDING, last_error="", updated_at=timezone.now()
    )
    party_request_sync(party=attendee.party, force=True)


def party_retry_failed(*, party: Party) -> int:
    count = party.attendees.filter(sync_state=SyncState.FAILED).update(
        sync_state=SyncState.PENDING, last_error="", updated_at=timezone.now()
    )
    if count:
        party_request_sync(party=party, force=True)
    return count


def party_retry_sync(*, party: Party) -> None:
    """Operators' nudge: sync now, in the background (the sync creates a missing list first)."""
    party_request_sync(party=party, force=True, delay=0)


# --- Sync scheduling --------------------------------------------------------------------------


def party_request_sync(*, party: Party, delay: float | None = None, force: bool = False) -> bool:
    """Schedule the party's sync after the accumulation window (or `delay`), coalesced.

    Without `force` (signups, automatic retries) nothing is enqueued while a sync is already
    planned: the first signup after a sync starts enqueues one task and the next hundreds add
    nothing, so a rush goes out in large batches, and signups during a backoff do not cut
    it short. With `force` (people retrying, reconnection, the sweep, a busy sync) the task
    is enqueued anyway and the earliest planned time wins.
    """
    from parties import tasks  # tasks import this module

    window = settings.PARTY_SYNC_WINDOW_SECONDS if delay is None else delay
    run_at = timezone.now() + timedelta(seconds=window)
    planned = Party.objects.filter(pk=party.pk)
    if force:
        planned.filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__gt=run_at)).update(
            next_sync_at=run_at
        )
    else:
        # A plain read first: during a rush almost every signup stops here without a write.
        if planned.filter(next_sync_at__isnull=False).exists():
            return False
        if not planned.filter(next_sync_at__isnull=True).update(next_sync_at=run_at):
            return False
    tasks.sync_party.using(run_after=run_at).enqueue(party_id=party.pk)
    return True


# --- The sync itself --------------------------------------------------------------------------


def party_sync(*, party_id: int) -> SyncReport:
    """Drain the party's pending attendees to Klaviyo, one batch after another.

    At most one sync per party runs at a time: it holds a lease on the party row (a
    conditional UPDATE, no lock held open). A sync that finds the lease taken reschedules
    itself after the window, so work that arrived meanwhile is never stranded.
    """
    report = SyncReport()
    holder = secrets.token_hex(16)
    if not _claim_party_lease(party_id, holder):
        report.outcome = "busy"
        party = Party.objects.filter(pk=party_id).first()
        if party is not None:
            # Come back after the running sync: rows it did not see are not stranded.
            party_request_sync(party=party, force=True)
        return report
    try:
        party = Party.objects.select_related("connection").filter(pk=party_id).first()
        if party is None:
            report.outcome = "gone"
            return report
        if party.connection.status != ConnectionStatus.ACTIVE:
            _pause(party, "The Klaviyo connection needs reconnecting.")
            report.outcome = "paused"
            return report
        if party.list_state != ListState.READY:
            if not party_sync_list(party=party).ok:
                report.outcome = "list_pending"
                return report
            party.refresh_from_db()
        while True:
            _renew_party_lease(party_id, holder)
            batch, claimed_at = _claim_batch(party)
            if not batch:
                break
            report.batches += 1
            if not _send_batch(party, batch, claimed_at, report):
                break
        if report.outcome == "done":
            Party.objects.filter(pk=party_id).update(
                sync_failures=0, sync_paused_reason="", last_synced_at=timezone.now()
            )
    finally:
        Party.objects.filter(pk=party_id, sync_lease_holder=holder).update(
            sync_lease_holder="", sync_lease_expires_at=None
        )
    if report.retry_in is not None:
        party_request_sync(party=party, delay=report.retry_in)
    logger.info(
        "Synced party %s: %s synced, %s failed in %s batches (%s)",
        party_id,
        report.synced,
        report.failed,
        report.batches,
        report.outcome,
    )
    return report


def _claim_party_lease(party_id: int, holder: str) -> bool:
    now = timezone.now()
    return bool(
        Party.objects.filter(pk=party_id)
        .filter(Q(sync_lease_expires_at__isnull=True) | Q(sync_lease_expires_at__lt=now))
        .update(
            sync_lease_holder=holder,
            sync_lease_expires_at=now + SYNC_LEASE,
            # Signups from now on schedule a new sync; this one takes what is there.
            next_sync_at=None,
        )
    )


def _renew_party_lease(party_id: int, holder: str) -> None:
    Party.objects.filter(pk=party_id, sync_lease_holder=holder).update(
        sync_lease_expires_at=timezone.now() + SYNC_LEASE
    )


def _claim_batch(party: Party) -> tuple[list[Attendee], Any]:
    """Mark up to one batch of pending attendees `syncing`, in one short transaction."""
    claimed_at = timezone.now()
    with transaction.atomic():
        pending = Attendee.objects.filter(party=party, sync_state=SyncState.PENDING).order_by("pk")
        if db_connection.features.has_select_for_update_skip_locked:
            # Any number of workers: rows another worker has claimed are skipped, not waited on.
            pending = pending.select_for_update(skip_locked=True)
        ids = list(pending.values_list("pk", flat=True)[:MAX_SUBSCRIBE_BATCH])
        if not ids:
            return [], claimed_at
        Attendee.objects.filter(pk__in=ids).update(
            sync_state=SyncState.SYNCING,
            claimed_at=claimed_at,
            attempts=F("attempts") + 1,
            updated_at=claimed_at,
        )
    return list(Attendee.objects.filter(pk__in=ids).order_by("pk")), claimed_at


def _profile(attendee: Attendee) -> dict[str, Any]:
    return {
        "email": attendee.email,
        "first_name": attendee.first_name,
        "last_name": attendee.last_name,
        "properties": {"pet_name": attendee.pet_name, "pet_type": attendee.pet_type},
    }


def _send_batch(party: Party, batch: list[Attendee], claimed_at: Any, report: SyncReport) -> bool:
    """Send one batch; returns False when the sync should stop (and maybe retry later)."""
    client = klaviyo_client(connection=party.connection)
    remaining = list(batch)
    source = f"Partyline signup: {party.name}"[:255]
    try:
        remaining = _with_profile_rejections(
            remaining,
            claimed_at,
            report,
            lambda people: client.bulk_import_profiles(profiles=[_profile(a) for a in people]),
        )
        # Someone subscribed before (and re-signed up with new details) needs only the
        # profile update: never a second subscription.
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
    except KlaviyoRateLimited as error:
        _release(batch, claimed_at)
        report.outcome = "rate_limited"
        report.retry_in = max(error.retry_after, 1.0)
        return False
    except (KlaviyoUnavailable, KlaviyoAuthError) as error:
        _release(batch, claimed_at)
        failures = Party.objects.get(pk=party.pk).sync_failures + 1
        Party.objects.filter(pk=party.pk).update(sync_failures=failures)
        report.outcome = "unavailable"
        report.retry_in = min(5 * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
        report.notes.append(_reason(error))
        return False
    except ConnectionUnusable:
        _release(batch, claimed_at)
        _pause(party, "The Klaviyo connection needs reconnecting.")
        report.outcome = "paused"
        return False
    except SecretDecryptionError:
        logger.exception("Cannot read the tokens of connection %s", party.connection_id)
        _release(batch, claimed_at)
        _pause(party, "The server cannot read its Klaviyo tokens; the operator must fix its keys.")
        report.outcome = "paused"
        return False

    now = timezone.now()
    report.synced += Attendee.objects.filter(
        pk__in=[a.pk for a in remaining], sync_state=SyncState.SYNCING, claimed_at=claimed_at
    ).update(sync_state=SyncState.SYNCED, synced_at=now, last_error="", updated_at=now)
    connection_record_success(connection=party.connection)
    return True


def _with_profile_rejections(
    people: list[Attendee], claimed_at: Any, report: SyncReport, send: Any
) -> list[Attendee]:
    """Send; when Klaviyo rejects one profile (a 4xx pointing at it), fail only that
    attendee with Klaviyo's reason and send the rest again."""
    remaining = list(people)
    while remaining:
        try:
            send(remaining)
            return remaining
        except (KlaviyoRateLimited, KlaviyoUnavailable, KlaviyoAuthError):
            raise
        except KlaviyoError as error:
            match = PROFILE_POINTER.search(error.pointer or "")
            index = int(match.group(1)) if match else None
            if index is None or index >= len(remaining):
                _fail(remaining, claimed_at, _reason(error))
                report.failed += len(remaining)
                return []
            _fail([remaining[index]], claimed_at, _reason(error))
            report.failed += 1
            del remaining[index]
    return remaining


def _fail(attendees: Sequence[Attendee], claimed_at: Any, reason: str) -> None:
    Attendee.objects.filter(
        pk__in=[a.pk for a in attendees], sync_state=SyncState.SYNCING, claimed_at=claimed_at
    ).update(sync_state=SyncState.FAILED, last_error=reason[:500], updated_at=timezone.now())


def _release(attendees: Sequence[Attendee], claimed_at: Any) -> None:
    """Put a claimed batch back to pending (nothing was lost, it is simply tried later)."""
    Attendee.objects.filter(
        pk__in=[a.pk for a in attendees], sync_state=SyncState.SYNCING, claimed_at=claimed_at
    ).update(sync_state=SyncState.PENDING, updated_at=timezone.now())


def _pause(party: Party, reason: str) -> None:
    Party.objects.filter(pk=party.pk).update(sync_paused_reason=reason[:255])


def _reason(error: Exception) -> str:
    if isinstance(error, KlaviyoError):
        return (error.detail or str(error))[:500]
    return str(error)[:500]


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{round(seconds)} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


# --- Sweep and resumption ---------------------------------------------------------------------


@dataclass
class SweepReport:
    reclaimed: int = 0
    parties_enqueued: int = 0


def sync_sweep() -> SweepReport:
    """Make sure nothing waits forever: a lost task or a killed worker loses nothing.

    Stale `syncing` claims go back to pending; every party (with an active connection) that
    has signups or a list waiting, but no sync planned or only one long overdue (its task was
    lost), gets its sync enqueued again. Planned retries (a backoff, Klaviyo's Retry-After)
    are left alone.
    """
    report = SweepReport()
    now = timezone.now()
    stale = Attendee.objects.filter(sync_state=SyncState.SYNCING, claimed_at__lt=now - STALE_CLAIM)
    stale_parties = set(stale.values_list("party_id", flat=True))
    report.reclaimed = stale.update(sync_state=SyncState.PENDING, updated_at=now)
    waiting = (
        Party.objects.filter(connection__status=ConnectionStatus.ACTIVE)
        .filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lt=now - PENDING_GRACE))
        .filter(
            Q(pk__in=stale_parties)
            | Q(list_state=ListState.PENDING)
            | Q(
                attendees__sync_state=SyncState.PENDING,
                attendees__updated_at__lt=now - PENDING_GRACE,
            )
        )
        .distinct()
        .only("pk")
    )
    for party in waiting:
        party_request_sync(party=party, force=True, delay=0)
        report.parties_enqueued += 1
    return report


def parties_resume(*, connection: KlaviyoConnection) -> int:
    """A connection is active again: resume its paused parties at once (in the background:
    this runs in the request that reconnected)."""
    resumed = 0
    for party in Party.objects.filter(connection=connection):
        Party.objects.filter(pk=party.pk).update(sync_paused_reason="")
        waiting = party.attendees.filter(sync_state=SyncState.PENDING).exists()
        if party.list_state != ListState.READY or waiting:
            party_request_sync(party=party, force=True, delay=0)
        resumed += 1
    return resumed


# --- Reconciliation ---------------------------------------------------------------------------


def party_reconcile(*, party: Party) -> Reconciliation:
    """Page through the list's members in Klaviyo and compare with the signups here."""
    if not party.klaviyo_list_id:
        raise PartyError("This party has no Klaviyo list yet.")
    client = klaviyo_client(connection=party.connection)
    in_klaviyo: dict[str, str] = {}
    for profile in client.iter_list_profiles(list_id=party.klaviyo_list_id, fields=["email"]):
        email = (profile.get("attributes") or {}).get("email")
        if email:
            in_klaviyo[normalize_email(email)] = str(profile["id"])
    connection_record_success(connection=party.connection)
    local = list(party.attendees.order_by("email"))
    missing = [attendee for attendee in local if attendee.email not in in_klaviyo]
    local_emails = {attendee.email for attendee in local}
    only_there = [
        {"email": email, "id": profile_id}
        for email, profile_id in sorted(in_klaviyo.items())
        if email not in local_emails
    ]
    # Learn the Klaviyo profile ids of the attendees found there.
    found = [
        a for a in local if a.email in in_klaviyo and a.klaviyo_profile_id != in_klaviyo[a.email]
    ]
    for attendee in found:
        attendee.klaviyo_profile_id = in_klaviyo[attendee.email]
    Attendee.objects.bulk_update(found, ["klaviyo_profile_id"], batch_size=500)
    return Reconciliation(
        matched=len(local) - len(missing), missing_in_klaviyo=missing, only_in_klaviyo=only_there
    )
