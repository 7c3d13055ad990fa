"""The attendee outbox engine: claim, send, follow Klaviyo's jobs, verify, release, sweep.

Attendees are the outbox. A party's sync runs under a lease on the party row (one conditional
UPDATE; no lock is held open), so one worker at a time works on a party, and it never holds
a transaction across a call to Klaviyo.

1. **List.** A party's list is created (with the organizer's `opt_in_process`) or renamed
   first. A create whose answer was lost is looked up by name before it is tried again, so a
   party gets at most one list.
2. **Send.** Pending attendees are claimed (`SELECT ... FOR UPDATE SKIP LOCKED`, state
   `pending` only) in batches of up to 1,000 and sent as one profile bulk import job and one
   bulk subscribe job. The window rule: *while a rush lasts, a party sends at most one import
   and one subscribe per coalescing window (`PARTY_SYNC_WINDOW_SECONDS`); only a full batch
   of 1,000 may be followed at once by another.* `Party.next_send_at` is that gate; Klaviyo's
   Retry-After and our backoff after an outage move it too.
3. **Follow and verify.** Klaviyo answers both jobs with 202 and does the work later, so a
   sent attendee is only "sent". The sync polls each import job until it is complete, reads
   `import-errors` when `failed_count` > 0 (those attendees are rejected, with Klaviyo's
   words), then asks Klaviyo which of the sent attendees are list members (one read per 100),
   and for the others reads their consent: suppressed (with Klaviyo's reason), awaiting the
   person's confirmation (double opt-in list), or not there yet (read again later, sent
   again after `SENT_GIVE_UP`). Attendees awaiting confirmation are re-read on a slow
   schedule until they confirm or `CONFIRMATION_WAIT` passes. Reading back never holds back
   sending: a read Klaviyo refuses as it stands is asked again in halves, never unchanged,
   and one it cannot answer now waits without moving the send gate or the failure count.
4. **Sweep.** Stale claims go back to pending and parties whose work waits with no sync
   planned are returned for the task layer to enqueue, so a lost task loses nothing.

This module decides and records; `parties.tasks` owns the queue and schedules the next run
from the `SyncReport`.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db import connection as db_connection
from django.db import connections as db_connections
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import normalize_email
from integrations.budgets import DatabaseRateBudget
from integrations.clients import klaviyo_client
from integrations.errors import ConnectionUnusable
from integrations.fields import SecretDecryptionError
from integrations.klaviyo.bodies import MAX_SUBSCRIBE_BATCH
from integrations.klaviyo.client import MAX_PAGE_SIZE, KlaviyoClient
from integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoError,
    KlaviyoNotFound,
    KlaviyoRateLimited,
    KlaviyoRequestRejected,
    KlaviyoUnavailable,
)
from integrations.klaviyo.ratelimits import RATE_LIMITS
from integrations.klaviyo.records import KlaviyoList, ProfileConsent
from integrations.models import ConnectionStatus, KlaviyoConnection
from integrations.services import connection_record_success
from parties.models import Attendee, ListState, OptInProcess, Party, SyncState

logger = logging.getLogger(__name__)

# Work older than this with no sync planned (its task was lost) is enqueued by the sweep.
PENDING_GRACE = timedelta(minutes=2)
MAX_BACKOFF_SECONDS = 300
LIST_RETRY_SECONDS = 60
# Import jobs polled per run (each is one status call).
MAX_JOB_POLLS = 10
# Attendees read per query by the loops that call Klaviyo between reads.
READ_PAGE = 1000
# A sent attendee Klaviyo still does not show after this is sent again, at most
# MAX_ATTEMPTS times in all, then reported.
SENT_GIVE_UP = timedelta(minutes=10)
MAX_ATTEMPTS = 3
# A read-back Klaviyo could not answer (down, or its read budget spent) is tried again after
# this; sending never waits for it.
READ_BACK_RETRY_SECONDS = 30
# Double opt-in: how long we keep looking for the person's confirmation.
CONFIRMATION_WAIT = timedelta(days=7)
# A create whose answer was lost, found by name: lists created this much before the attempt
# still count (clocks differ).
CLOCK_SKEW = timedelta(minutes=2)
# A profile's index in a rejected bulk body, from Klaviyo's `source.pointer`.
PROFILE_POINTER = re.compile(r"/profiles/data/(\d+)")
# Klaviyo's suppression reasons, in an organizer's words.
SUPPRESSION_REASONS = {
    "HARD_BOUNCE": "email to this address bounced",
    "INVALID_EMAIL": "Klaviyo considers the address invalid",
    "SPAM_COMPLAINT": "this person marked an email as spam",
    "UNSUBSCRIBE": "this person unsubscribed",
    "USER_SUPPRESSED": "the account suppressed this address",
}


@dataclass
class SyncReport:
    sent: int = 0
    confirmed: int = 0
    failed: int = 0
    batches: int = 0
    outcome: str = "done"
    # When the party needs its next run (None: nothing left to do).
    next_run_at: datetime | None = None
    # What went wrong reading back from Klaviyo this run, in the organizer's words ("": nothing).
    read_back_problem: str = ""
    # No read-back before this (Klaviyo could not answer one this run); sends are not held.
    read_back_retry_at: datetime | None = None

    def run_again_at(self, moment: datetime) -> None:
        if self.next_run_at is None or moment < self.next_run_at:
            self.next_run_at = moment


@dataclass(frozen=True)
class ListResult:
    """Whether the list is in step with the party; if not, when to try again (None: only
    after the organizer changes something; the reason is on the party)."""

    ok: bool
    retry_at: datetime | None = None


class _Stop(Exception):
    """Klaviyo cannot take more now: stop this run, come back at `retry_at` (or never)."""

    def __init__(self, outcome: str, retry_at: datetime | None) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.retry_at = retry_at


def sync_lease() -> timedelta:
    """A sync holds its party's lease this long, and a heartbeat renews it every third of it
    while the run lives, however long a call to Klaviyo takes; a killed worker's lease runs
    out within one lease, and its claimed attendees are then recovered."""
    return timedelta(seconds=settings.PARTY_SYNC_LEASE_SECONDS)


def window() -> timedelta:
    return timedelta(seconds=settings.PARTY_SYNC_WINDOW_SECONDS)


def verify_interval() -> timedelta:
    return timedelta(seconds=settings.PARTY_VERIFY_INTERVAL_SECONDS)


def confirmation_interval() -> timedelta:
    return timedelta(seconds=settings.PARTY_CONFIRMATION_CHECK_SECONDS)


# --- The run ----------------------------------------------------------------------------------


def party_sync(*, party_id: int, holder: str | None = None) -> SyncReport:
    """One run of a party's sync: list, send what the window allows, follow and verify.

    `holder` names this run's lease (the task passes one so it can recover the run if its
    database connection dies mid-way)."""
    report = SyncReport()
    holder = holder or new_lease_holder()
    if not claim_party_lease(party_id, holder):
        # Come back after the running sync: rows it did not see are not stranded.
        report.outcome = "busy"
        report.run_again_at(timezone.now() + window())
        return report
    try:
        with _LeaseHeartbeat(party_id, holder):
            # Holding the lease, any claim left on this party is a dead run's.
            _recover_claims(Attendee.objects.filter(party_id=party_id))
            party = Party.objects.select_related("connection").filter(pk=party_id).first()
            if party is None:
                report.outcome = "gone"
                return report
            if party.connection.status != ConnectionStatus.ACTIVE:
                _pause(party, "The Klaviyo connection needs reconnecting.")
                report.outcome = "paused"
                return report
            _run(party, holder, report)
    finally:
        Party.objects.filter(pk=party_id, sync_lease_holder=holder).update(
            sync_lease_holder="", sync_lease_expires_at=None
        )
    logger.info(
        "Synced party %s: %s sent, %s confirmed, %s failed in %s batches (%s)",
        party_id,
        report.sent,
        report.confirmed,
        report.failed,
        report.batches,
        report.outcome,
    )
    return report


def _run(party: Party, holder: str, report: SyncReport) -> None:
    try:
        client = klaviyo_client(connection=party.connection)
        if party.list_state != ListState.READY or party.klaviyo_list_name != party.name:
            result = party_list_sync(party=party, client=client)
            if not result.ok:
                report.outcome = "list_pending"
                if result.retry_at is not None:
                    report.run_again_at(result.retry_at)
                return
            party.refresh_from_db()
        _send_due(party, client, holder, report)
        _follow_and_verify(party, client, report)
    except _Stop as stop:
        report.outcome = stop.outcome
        if stop.retry_at is not None:
            report.run_again_at(stop.retry_at)
        return
    if report.outcome == "done":
        Party.objects.filter(pk=party.pk).update(
            sync_failures=0, sync_paused_reason="", last_synced_at=timezone.now()
        )
    _plan_next_run(party, report)


def _plan_next_run(party: Party, report: SyncReport) -> None:
    """When this party next needs a run, from what is still in flight."""
    now = timezone.now()
    # Reads wait out a read-back Klaviyo could not answer; sends never wait for reads.
    reads_from = max(report.read_back_retry_at or now, now)
    attendees = Attendee.objects.filter(party=party)
    if attendees.filter(sync_state=SyncState.PENDING).exists():
        gate = Party.objects.filter(pk=party.pk).values_list("next_send_at", flat=True).first()
        report.run_again_at(max(gate or now, now))
    sent = attendees.filter(sync_state=SyncState.SENT).values_list(
        "sent_at", "checked_at", "import_job_id"
    )
    for sent_at, checked_at, import_job_id in sent.iterator():
        # A job still running is polled every interval; a membership read waits its turn.
        check_at = now + verify_interval() if import_job_id else next_check_at(sent_at, checked_at)
        report.run_again_at(max(check_at, reads_from))
    oldest_check = (
        attendees.filter(sync_state=SyncState.AWAITING_CONFIRMATION, checked_at__isnull=False)
        .order_by("checked_at")
        .values_list("checked_at", flat=True)
        .first()
    )
    if oldest_check is not None:
        report.run_again_at(max(oldest_check + confirmation_interval(), reads_from))


# --- Leases -----------------------------------------------------------------------------------


def new_lease_holder() -> str:
    return secrets.token_hex(16)


class _LeaseHeartbeat:
    """Renews a run's party lease from a background thread while the run lives, so a slow
    call to Klaviyo never lets the lease lapse under a live worker, and a dead worker's
    lease lapses within one lease (`sync_lease`)."""

    def __init__(self, party_id: int, holder: str) -> None:
        self.party_id, self.holder = party_id, holder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="party-lease")

    def __enter__(self) -> _LeaseHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(sync_lease().total_seconds() / 3):
                if not _renew_party_lease(self.party_id, self.holder):
                    return  # taken over (this run outlived its lease) or released
        except DatabaseError:
            logger.warning("Could not renew the sync lease of party %s", self.party_id)
        finally:
            db_connections.close_all()  # this thread's own connection


def claim_party_lease(party_id: int, holder: str) -> bool:
    """Take the party's lease unless a live one is held: the guard that keeps two workers
    from syncing one party at once."""
    now = timezone.now()
    return bool(
        Party.objects.filter(pk=party_id)
        .filter(Q(sync_lease_expires_at__isnull=True) | Q(sync_lease_expires_at__lt=now))
        .update(
            sync_lease_holder=holder,
            sync_lease_expires_at=now + sync_lease(),
            # Signups from now on plan a new run; this one takes what is there.
            next_sync_at=None,
        )
    )


def _renew_party_lease(party_id: int, holder: str) -> bool:
    return bool(
        Party.objects.filter(pk=party_id, sync_lease_holder=holder).update(
            sync_lease_expires_at=timezone.now() + sync_lease()
        )
    )


def party_recover(*, party_id: int, holder: str) -> None:
    """A run died mid-way (its database connection dropped): release its lease and claims
    now, instead of waiting for the lease to lapse."""
    if Party.objects.filter(pk=party_id, sync_lease_holder=holder).exists():
        _recover_claims(Attendee.objects.filter(party_id=party_id))
        Party.objects.filter(pk=party_id, sync_lease_holder=holder).update(
            sync_lease_holder="", sync_lease_expires_at=None
        )


def _recover_claims(attendees: QuerySet[Attendee]) -> int:
    """Put a dead run's claims back. Whoever may already have reached Klaviyo's subscribe
    job (`sent_at` is set just before that call) is verified, not subscribed again (no second
    confirmation email); the others wait to be sent."""
    claimed = attendees.filter(sync_state=SyncState.SYNCING)
    now = timezone.now()
    verified = claimed.filter(sent_at__isnull=False).update(
        sync_state=SyncState.SENT, checked_at=None, updated_at=now
    )
    resent = claimed.update(sync_state=SyncState.PENDING, updated_at=now)
    return verified + resent


# --- The party's list -------------------------------------------------------------------------


def party_list_sync(*, party: Party, client: KlaviyoClient) -> ListResult:
    """Create the party's Klaviyo list, or rename it to the party's name (under the lease).

    Saves only the list's own fields, so an organizer's edit saved meanwhile is kept. A list
    is never asked for while today's new lists are all used in the Klaviyo account.
    """
    creating = not party.klaviyo_list_id
    if creating and (waiting := _wait_for_list_budget(party)):
        return waiting
    try:
        if party.klaviyo_list_id:
            klaviyo_list = client.update_list(list_id=party.klaviyo_list_id, name=party.name)
        else:
            klaviyo_list = _create_list_once(party, client)
    except KlaviyoRateLimited as error:
        if creating and (waiting := _wait_for_list_budget(party)):
            return waiting  # another worker took today's last one meanwhile
        wait = max(error.retry_after, 1.0)
        _list_state(
            party,
            ListState.PENDING,
            "Klaviyo is limiting list changes right now (at most 150 new lists a day); it "
            f"will be tried again automatically in about {_duration(wait)}.",
        )
        return ListResult(ok=False, retry_at=_later(wait))
    except (KlaviyoUnavailable, KlaviyoAuthError) as error:
        _list_state(party, ListState.PENDING, reason(error))
        return ListResult(ok=False, retry_at=_later(LIST_RETRY_SECONDS))
    except KlaviyoNotFound:
        # The list was deleted in Klaviyo: make a new one.
        Party.objects.filter(pk=party.pk).update(
            klaviyo_list_id="", klaviyo_list_name="", list_state=ListState.PENDING
        )
        party.klaviyo_list_id = ""
        return ListResult(ok=False, retry_at=timezone.now())
    except KlaviyoError as error:
        _list_state(party, ListState.FAILED, reason(error))
        return ListResult(ok=False)

    name = klaviyo_list.name or party.name
    Party.objects.filter(pk=party.pk).update(
        klaviyo_list_id=klaviyo_list.id,
        klaviyo_list_name=name[: Party.NAME_MAX_LENGTH],
        klaviyo_opt_in_process=klaviyo_list.opt_in_process,
        list_state=ListState.READY,
        list_error="",
        list_create_started_at=None,
    )
    connection_record_success(connection=party.connection)
    return ListResult(ok=True)


def _wait_for_list_budget(party: Party) -> ListResult | None:
    """If today's new lists are all used in the party's Klaviyo account, say so on the party
    and come back when the next day's budget opens (None: a list can be created now)."""
    reopens_at = list_budget_reopens_at(connection=party.connection)
    if reopens_at is None:
        return None
    _list_state(party, ListState.PENDING, list_budget_message(reopens_at=reopens_at))
    return ListResult(ok=False, retry_at=reopens_at)


def _create_list_once(party: Party, client: KlaviyoClient) -> KlaviyoList:
    if party.list_create_started_at is not None:
        # An earlier create may have reached Klaviyo without us hearing the answer.
        since = party.list_create_started_at - CLOCK_SKEW
        for candidate in reversed(client.find_lists(name=party.name)):
            if candidate.created is not None and candidate.created >= since:
                return candidate
    started = timezone.now()
    Party.objects.filter(pk=party.pk).update(list_create_started_at=started)
    party.list_create_started_at = started
    return client.create_list(name=party.name, opt_in_process=party.opt_in_process)


def _list_state(party: Party, state: str, why: str) -> None:
    Party.objects.filter(pk=party.pk).update(list_state=state, list_error=why[:500])


def list_budget_reopens_at(*, connection: KlaviyoConnection) -> datetime | None:
    """If today's new lists are all used in the connection's Klaviyo account (every
    connection to that account shares them), when the next day's budget opens; else None."""
    return DatabaseRateBudget().daily_window_reopens_at(
        "create_list", connection.klaviyo_account_id
    )


def list_budget_message(*, reopens_at: datetime) -> str:
    """What an organizer reads when a party's list must wait for the next day's budget."""
    return (
        f"Klaviyo allows {RATE_LIMITS['create_list'].daily} new lists a day for this account; "
        "today's are used, so this party's list will be created tomorrow "
        f"(after {reopens_at.astimezone(UTC):%H:%M} UTC)"
    )


# --- Sending ----------------------------------------------------------------------------------


def _send_due(party: Party, client: KlaviyoClient, holder: str, report: SyncReport) -> None:
    """Send what the window allows: one batch, or back-to-back batches while they are full."""
    while True:
        gate = Party.objects.filter(pk=party.pk).values_list("next_send_at", flat=True).first()
        if gate is not None and gate > timezone.now():
            return
        _renew_party_lease(party.pk, holder)
        batch, claimed_at = claim_batch(party)
        if not batch:
            return
        report.batches += 1
        _send_batch(party, client, batch, claimed_at, report)
        if len(batch) < MAX_SUBSCRIBE_BATCH:
            # A partial batch: what trickles in next waits for the window.
            Party.objects.filter(pk=party.pk).update(next_send_at=timezone.now() + window())
            return


def claim_batch(party: Party) -> tuple[list[Attendee], datetime]:
    """Mark up to one batch of *pending* attendees `syncing`, in one short transaction.

    The state filter is the guard: an attendee already sent, confirmed or claimed by another
    worker is never claimed again.
    """
    claimed_at = timezone.now()
    with transaction.atomic():
        pending = Attendee.objects.filter(party=party, sync_state=SyncState.PENDING).order_by("pk")
        if db_connection.features.has_select_for_update_skip_locked:
            # Any number of workers: rows another worker has claimed are skipped, not waited on.
            pending = pending.select_for_update(skip_locked=True)
        ids = list(pending.values_list("pk", flat=True)[:MAX_SUBSCRIBE_BATCH])
        if not ids:
            return [], claimed_at
        Attendee.objects.filter(pk__in=ids, sync_state=SyncState.PENDING).update(
            sync_state=SyncState.SYNCING,
            claimed_at=claimed_at,
            # Set again just before the subscribe call: recovery reads it as "may have
            # reached Klaviyo".
            sent_at=None,
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
        # calls is recovered without repeating what reached Klaviyo (see `_recover_claims`).
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
        raise _stop_for(party, error) from None
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
    people: list[Attendee], claimed_at: datetime, report: SyncReport, send: Callable
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
                report.failed += _fail(remaining, claimed_at, reason(error))
                return []
            report.failed += _fail([remaining[index]], claimed_at, reason(error))
            del remaining[index]
    return remaining


def _fail(attendees: Sequence[Attendee], claimed_at: datetime, why: str) -> int:
    return _claimed(attendees, claimed_at).update(
        sync_state=SyncState.FAILED, state_reason=why[:500], updated_at=timezone.now()
    )


def release(attendees: Sequence[Attendee], claimed_at: datetime) -> None:
    """Put a claimed batch back to pending: Klaviyo answered with an error, so nothing of
    the failed call was done and it is simply tried later."""
    _claimed(attendees, claimed_at).update(sync_state=SyncState.PENDING, updated_at=timezone.now())


# Failures that end a run: Klaviyo is busy or down, or the connection cannot be used.
KLAVIYO_STOPS = (
    KlaviyoRateLimited,
    KlaviyoUnavailable,
    KlaviyoAuthError,
    ConnectionUnusable,
    SecretDecryptionError,
)


def backoff_seconds(failures: int) -> int:
    """The wait after Klaviyo failed to answer `failures` times in a row: 5 s, doubling, at
    most MAX_BACKOFF_SECONDS (the party pages also date an outage back from it)."""
    return min(5 * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)


def _stop_for(party: Party, error: Exception) -> _Stop:
    """Record what one of KLAVIYO_STOPS means for the party, and when to come back."""
    if isinstance(error, KlaviyoRateLimited):
        retry_at = _later(max(error.retry_after, 1.0))
        Party.objects.filter(pk=party.pk).update(next_send_at=retry_at)
        return _Stop("rate_limited", retry_at)
    if isinstance(error, KlaviyoUnavailable | KlaviyoAuthError):
        failures = Party.objects.get(pk=party.pk).sync_failures + 1
        retry_at = _later(backoff_seconds(failures))
        Party.objects.filter(pk=party.pk).update(sync_failures=failures, next_send_at=retry_at)
        logger.warning("Klaviyo unavailable for party %s: %s", party.pk, reason(error))
        return _Stop("unavailable", retry_at)
    if isinstance(error, SecretDecryptionError):
        logger.error("Cannot read the tokens of connection %s", party.connection_id)
        _pause(party, "The server cannot read its Klaviyo tokens; the operator must fix its keys.")
        return _Stop("paused", None)
    _pause(party, "The Klaviyo connection needs reconnecting.")
    return _Stop("paused", None)


# --- Following jobs and verifying -------------------------------------------------------------


def _follow_and_verify(party: Party, client: KlaviyoClient, report: SyncReport) -> None:
    """Read back what was sent: follow the import jobs, verify membership, re-check those
    awaiting confirmation.

    Its failures are its own: they never move the send gate (`next_send_at`) or the count of
    failed sends (`sync_failures`), so sending never waits for a read. A read Klaviyo refuses
    as it stands is never sent again unchanged (`_read_in_halves`); one Klaviyo cannot answer
    now ends the read-back until READ_BACK_RETRY_SECONDS (or Klaviyo's wait) have passed. The
    party page says which (`Party.read_back_error`) until a read-back goes through cleanly.
    """
    try:
        _follow_import_jobs(party, client, report)
        _verify_sent(party, client, report)
        _recheck_awaiting(party, client, report)
    except (ConnectionUnusable, SecretDecryptionError) as error:
        raise _stop_for(party, error) from None
    except (KlaviyoRateLimited, KlaviyoUnavailable, KlaviyoAuthError) as error:
        wait = (
            max(error.retry_after, 1.0)
            if isinstance(error, KlaviyoRateLimited)
            else READ_BACK_RETRY_SECONDS
        )
        logger.warning("Klaviyo did not answer a read-back for party %s: %s", party.pk, error)
        report.outcome = "read_back_waiting"
        report.read_back_retry_at = _later(wait)
        report.read_back_problem = (
            f"Klaviyo did not answer when Partyline read back this party's signups "
            f"({reason(error)}). It tries again in about {_duration(wait)}; sending carries on "
            "meanwhile."
        )
    if report.read_back_problem or party.read_back_error:
        Party.objects.filter(pk=party.pk).update(read_back_error=report.read_back_problem[:500])


def _refused(party: Party, error: KlaviyoError, report: SyncReport, then: str) -> None:
    """Log a read-back Klaviyo refused as it stands, and tell the organizer what happens next."""
    logger.warning("Klaviyo refused a read-back for party %s: %s", party.pk, error)
    report.read_back_problem = (
        f"Klaviyo refused a request reading back this party's signups ({error}). Partyline "
        f"does not send a refused request again unchanged: {then} Sending carries on."
    )


def _read_in_halves(
    party: Party,
    attendees: list[Attendee],
    read: Callable[[list[Attendee]], list[Attendee]],
    report: SyncReport,
) -> list[Attendee]:
    """`read(attendees)`, which answers the attendees still to look at. When Klaviyo refuses
    the read as it stands (`KlaviyoRequestRejected`: the same request would be refused again),
    each half is read on its own, down to one attendee, who is then failed with Klaviyo's
    reason (the organizer can retry them): a read is never repeated unchanged."""
    try:
        return read(attendees)
    except KlaviyoRequestRejected as error:
        _refused(
            party,
            error,
            report,
            "it asks about fewer signups at a time, and marks anyone Klaviyo still will not "
            "answer about as rejected, to retry from this page.",
        )
        if len(attendees) > 1:
            middle = len(attendees) // 2
            return _read_in_halves(party, attendees[:middle], read, report) + _read_in_halves(
                party, attendees[middle:], read, report
            )
        now = timezone.now()
        report.failed += Attendee.objects.filter(
            pk=attendees[0].pk, sync_state=attendees[0].sync_state
        ).update(
            sync_state=SyncState.FAILED,
            state_reason=(
                f"Klaviyo refused to say whether they are in the list ({error}), so Partyline "
                "stopped asking. Retry them to send them and ask again."
            )[:500],
            checked_at=now,
            updated_at=now,
        )
        return []


def _follow_import_jobs(party: Party, client: KlaviyoClient, report: SyncReport) -> None:
    """Poll each import job still carrying sent attendees; read its errors once complete."""
    due = timezone.now() - verify_interval()
    job_ids = list(
        Attendee.objects.filter(party=party, sync_state=SyncState.SENT, sent_at__lte=due)
        .exclude(import_job_id="")
        .order_by("import_job_id")
        .values_list("import_job_id", flat=True)
        .distinct()[:MAX_JOB_POLLS]
    )
    for job_id in job_ids:
        carried = Attendee.objects.filter(
            party=party, sync_state=SyncState.SENT, import_job_id=job_id
        )
        try:
            job = client.get_bulk_import_job(job_id=job_id)
            if job.status == "complete" and job.failed_count:
                report.failed += _reject_from_import_errors(party, client, job_id)
        except KlaviyoNotFound:
            # Klaviyo forgets jobs after a while; membership tells the rest.
            carried.update(import_job_id="")
            continue
        except KlaviyoRequestRejected as error:
            _refused(
                party,
                error,
                report,
                "it stops following that import and reads the list to see who is in it.",
            )
            carried.update(import_job_id="")
            continue
        if job.status == "cancelled":
            carried.update(
                sync_state=SyncState.PENDING,
                import_job_id="",
                state_reason="Klaviyo cancelled the import; sending again.",
                updated_at=timezone.now(),
            )
            continue
        if job.status != "complete":
            continue
        carried.filter(sync_state=SyncState.SENT).update(import_job_id="")


def _reject_from_import_errors(party: Party, client: KlaviyoClient, job_id: str) -> int:
    """Mark the attendees Klaviyo's import rejected `failed`, with Klaviyo's words."""
    rejected: dict[str, str] = {}
    for rejection in client.iter_import_errors(job_id=job_id):
        if rejection.email:
            rejected[normalize_email(rejection.email)] = rejection.message or "Rejected by Klaviyo."
    failed = 0
    now = timezone.now()
    for email, why in rejected.items():
        failed += Attendee.objects.filter(
            party=party, sync_state=SyncState.SENT, import_job_id=job_id, email=email
        ).update(sync_state=SyncState.FAILED, state_reason=why[:500], updated_at=now)
    return failed


def next_check_at(sent_at: datetime, checked_at: datetime | None) -> datetime:
    """When a sent attendee is next read back: one interval after sending, then at doubling
    intervals, so someone Klaviyo is slow to add costs a few reads, not one every few seconds."""
    if checked_at is None:
        return sent_at + verify_interval()
    return checked_at + max(verify_interval(), checked_at - sent_at)


def _verify_sent(party: Party, client: KlaviyoClient, report: SyncReport) -> None:
    """Sent attendees whose import is done: members now, or why not."""
    now = timezone.now()
    sent = Attendee.objects.filter(
        party=party,
        sync_state=SyncState.SENT,
        import_job_id="",
        sent_at__lte=now - verify_interval(),
    )
    due = (
        attendee
        for attendee in _each(sent)
        if next_check_at(attendee.sent_at, attendee.checked_at) <= now
    )

    def members(attendees: list[Attendee]) -> list[Attendee]:
        return _mark_members(party, client, attendees, report)

    def classify(attendees: list[Attendee]) -> list[Attendee]:
        _classify_non_members(party, client, attendees)
        return []

    for chunk in _chunks(due, MAX_PAGE_SIZE):
        missing = _read_in_halves(party, chunk, members, report)
        if missing:
            _read_in_halves(party, missing, classify, report)


def _recheck_awaiting(party: Party, client: KlaviyoClient, report: SyncReport) -> None:
    """Double opt-in: has the person confirmed yet? Read slowly, give up after a while."""
    now = timezone.now()
    waiting = Attendee.objects.filter(party=party, sync_state=SyncState.AWAITING_CONFIRMATION)
    waiting.filter(sent_at__lt=now - CONFIRMATION_WAIT).update(
        sync_state=SyncState.NOT_CONFIRMED,
        state_reason=(
            "Klaviyo emailed a confirmation link, but it was not used within "
            f"{CONFIRMATION_WAIT.days} days. Klaviyo keeps the request; they join the list if "
            "they confirm later."
        ),
        updated_at=now,
    )
    due = waiting.filter(
        Q(checked_at__isnull=True) | Q(checked_at__lte=now - confirmation_interval())
    )

    def members(attendees: list[Attendee]) -> list[Attendee]:
        return _mark_members(party, client, attendees, report)

    for chunk in _chunks(_each(due), MAX_PAGE_SIZE):
        missing = _read_in_halves(party, chunk, members, report)
        Attendee.objects.filter(pk__in=[a.pk for a in missing]).update(checked_at=now)


def _mark_members(
    party: Party, client: KlaviyoClient, attendees: list[Attendee], report: SyncReport
) -> list[Attendee]:
    """One read: which of these are list members. Marks them; returns the others."""
    members = client.list_members_among(
        list_id=party.klaviyo_list_id, emails=[a.email for a in attendees]
    )
    found = {normalize_email(member.email): member.profile_id for member in members}
    now = timezone.now()
    for attendee in attendees:
        profile_id = found.get(attendee.email)
        if profile_id is None:
            continue
        report.confirmed += Attendee.objects.filter(
            pk=attendee.pk, sync_state=attendee.sync_state
        ).update(
            sync_state=SyncState.SYNCED,
            klaviyo_profile_id=profile_id,
            synced_at=attendee.synced_at or now,
            checked_at=now,
            state_reason="",
            updated_at=now,
        )
    connection_record_success(connection=party.connection)
    return [a for a in attendees if a.email not in found]


def _classify_non_members(party: Party, client: KlaviyoClient, attendees: list[Attendee]) -> None:
    """One read of consent for sent attendees not in the list: suppressed, awaiting their
    confirmation, or simply not processed yet (left `sent`, sent again after a while)."""
    consents = {
        normalize_email(consent.email): consent
        for consent in client.profiles_with_consent(emails=[a.email for a in attendees])
    }
    double_opt_in = party.klaviyo_opt_in_process == OptInProcess.DOUBLE
    now = timezone.now()
    for attendee in attendees:
        state, why = _state_from_profile(consents.get(attendee.email), party, double_opt_in)
        still_sent = Attendee.objects.filter(pk=attendee.pk, sync_state=SyncState.SENT)
        if state is not None:
            still_sent.update(sync_state=state, state_reason=why, checked_at=now, updated_at=now)
        elif attendee.sent_at and attendee.sent_at < now - SENT_GIVE_UP:
            _send_again_or_give_up(attendee, still_sent, now)
        else:
            still_sent.update(checked_at=now)


def _state_from_profile(
    consent: ProfileConsent | None, party: Party, double_opt_in: bool
) -> tuple[str | None, str]:
    if consent is None:
        return None, ""
    list_reasons = [
        suppression.reason
        for suppression in consent.list_suppressions
        if suppression.list_id == party.klaviyo_list_id
    ]
    if consent.suppressions or list_reasons:
        code = (consent.suppressions or tuple(list_reasons))[0]
        words = SUPPRESSION_REASONS.get(code, code.replace("_", " ").lower() or "no reason given")
        scope = "this list" if not consent.suppressions else "all email"
        return (
            SyncState.SUPPRESSED,
            f"Klaviyo suppresses this address for {scope} ({words}), so it was not subscribed.",
        )
    if double_opt_in and consent.consent != "SUBSCRIBED":
        return (
            SyncState.AWAITING_CONFIRMATION,
            "The list uses double opt-in: Klaviyo emailed them a link to confirm, and they "
            "join the list once they click it.",
        )
    return None, ""


def _send_again_or_give_up(attendee: Attendee, still_sent: Any, now: datetime) -> None:
    if attendee.attempts >= MAX_ATTEMPTS:
        still_sent.update(
            sync_state=SyncState.FAILED,
            state_reason=(
                f"Klaviyo accepted them {attendee.attempts} times but never added them to the "
                "list. Check the address in Klaviyo, then retry."
            ),
            checked_at=now,
            updated_at=now,
        )
    else:
        still_sent.update(
            sync_state=SyncState.PENDING,
            state_reason="Klaviyo had not added them to the list yet; sending again.",
            checked_at=now,
            updated_at=now,
        )


def _each(attendees: QuerySet[Attendee]) -> Iterator[Attendee]:
    """Every attendee of the queryset by pk, read a page at a time, each page its own query.

    No read stays open while the caller calls Klaviyo and writes (its own updates, the rate
    budget's counts): on SQLite a connection still holding a read cannot write once another
    connection has committed ("database is locked"), as `.iterator()` would hold one.
    """
    last = 0
    while page := list(attendees.filter(pk__gt=last).order_by("pk")[:READ_PAGE]):
        yield from page
        last = page[-1].pk


def _chunks(items: Iterable[Attendee], size: int) -> Iterable[list[Attendee]]:
    chunk: list[Attendee] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- Small things -----------------------------------------------------------------------------


def _pause(party: Party, why: str) -> None:
    Party.objects.filter(pk=party.pk).update(sync_paused_reason=why[:255])


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{round(seconds)} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


def _later(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


def reason(error: Exception) -> str:
    if isinstance(error, KlaviyoError):
        return (error.detail or str(error))[:500]
    return str(error)[:500]


# --- Sweep ------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    reclaimed: int = 0
    party_ids: list[int] = field(default_factory=list)


def sync_sweep() -> SweepReport:
    """Make sure nothing waits forever: a lost task or a killed worker loses nothing.

    Stale `syncing` claims go back to pending; every party (with an active connection) that
    has work waiting (signups, a list, sent attendees to verify, confirmations to re-read) but
    no run planned, or only one long overdue (its task was lost), is returned for the task
    layer to enqueue. Planned retries (a backoff, Klaviyo's Retry-After) are left alone.
    """
    report = SweepReport()
    now = timezone.now()
    # Claims under a lapsed lease belong to a run that died: no live worker renews it.
    lapsed = Q(party__sync_lease_expires_at__isnull=True) | Q(party__sync_lease_expires_at__lt=now)
    stale = Attendee.objects.filter(lapsed, sync_state=SyncState.SYNCING)
    stale_parties = set(stale.values_list("party_id", flat=True))
    report.reclaimed = _recover_claims(Attendee.objects.filter(pk__in=stale.values("pk")))
    old = now - PENDING_GRACE
    waiting = (
        Party.objects.filter(connection__status=ConnectionStatus.ACTIVE)
        .filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lt=old))
        .filter(
            Q(pk__in=stale_parties)
            | Q(list_state=ListState.PENDING)
            | Q(
                attendees__sync_state__in=[SyncState.PENDING, SyncState.SENT],
                attendees__updated_at__lt=old,
            )
            | Q(
                attendees__sync_state=SyncState.AWAITING_CONFIRMATION,
                attendees__checked_at__lt=now - confirmation_interval() - PENDING_GRACE,
            )
        )
        .distinct()
        .values_list("pk", flat=True)
    )
    report.party_ids = list(waiting)
    # A plan long overdue is a lost task: forget it, so the new plan is not refused.
    Party.objects.filter(pk__in=report.party_ids, next_sync_at__lt=old).update(next_sync_at=None)
    return report
