"""Reading back what was sent: follow Klaviyo's import jobs, verify list membership, read the
consent of those not in the list, re-check those awaiting a double opt-in confirmation.

Klaviyo answers both jobs with 202 and does the work later, so a sent attendee is only
"sent". Each import job is polled until complete, its `import-errors` read when
`failed_count` > 0 (those attendees are rejected, with Klaviyo's words); then Klaviyo is
asked which sent attendees are list members (filtered reads under a request-line budget), and
for the others their consent: suppressed (with Klaviyo's reason), awaiting the person's
confirmation (double opt-in list), or not there yet (read again at doubling intervals, sent
again after `sent_give_up`). Reading back never holds back sending: a read Klaviyo refuses as
it stands is asked again in halves, never unchanged, and one it cannot answer now waits
without moving the send gate or the failure count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import normalize_email
from core.backoff import next_look_at
from core.wording import wait_text
from integrations.errors import ConnectionUnusable
from integrations.fields import SecretDecryptionError
from integrations.klaviyo.client import MAX_PAGE_SIZE, KlaviyoClient
from integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoError,
    KlaviyoNotFound,
    KlaviyoRateLimited,
    KlaviyoRequestRejected,
    KlaviyoUnavailable,
)
from integrations.klaviyo.records import ProfileConsent
from integrations.services import connection_record_success
from parties.models import Attendee, OptInProcess, Party, SyncState
from parties.sync.config import sync_config
from parties.sync.outcomes import SyncReport, later, reason, stop_for
from parties.sync.send import CONSENT_PLACES, LEAVES_LIST, LIST_PLACES

logger = logging.getLogger(__name__)

# Klaviyo's suppression reasons, in an organizer's words.
SUPPRESSION_REASONS = {
    "HARD_BOUNCE": "email to this address bounced",
    "INVALID_EMAIL": "Klaviyo considers the address invalid",
    "SPAM_COMPLAINT": "this person marked an email as spam",
    "UNSUBSCRIBE": "this person unsubscribed",
    "USER_SUPPRESSED": "the account suppressed this address",
}


def follow_and_verify(party: Party, client: KlaviyoClient, report: SyncReport) -> None:
    """Read back what was sent: follow the import jobs, verify each sent attendee as their
    place asks (in the list, consent recorded, or out of the list), re-check those awaiting
    confirmation.

    Its failures are its own: they never move the send gate (`next_send_at`) or the count of
    failed sends (`sync_failures`), so sending never waits for a read. A read Klaviyo refuses
    as it stands is never sent again unchanged (`_read_in_halves`); one Klaviyo cannot answer
    now ends the read-back until `read_back_retry_seconds` (or Klaviyo's wait) have passed.
    The party page says which (`Party.read_back_error`) until a read-back goes through
    cleanly.
    """
    try:
        _follow_import_jobs(party, client, report)
        _verify_sent(party, client, report)
        _recheck_awaiting(party, client, report)
    except (ConnectionUnusable, SecretDecryptionError) as error:
        raise stop_for(party, error) from None
    except (KlaviyoRateLimited, KlaviyoUnavailable, KlaviyoAuthError) as error:
        wait = (
            max(error.retry_after, 1.0)
            if isinstance(error, KlaviyoRateLimited)
            else sync_config().read_back_retry_seconds
        )
        logger.warning("Klaviyo did not answer a read-back for party %s: %s", party.pk, error)
        report.outcome = "read_back_waiting"
        report.read_back_retry_at = later(wait)
        report.read_back_problem = (
            f"Klaviyo did not answer when Partyline read back this party's signups "
            f"({reason(error)}). It tries again in about {wait_text(wait)}; sending carries on "
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
            refused_as_sent=False,
            checked_at=now,
            updated_at=now,
        )
        return []


def _follow_import_jobs(party: Party, client: KlaviyoClient, report: SyncReport) -> None:
    """Poll each import job still carrying sent attendees; read its errors once complete."""
    due = timezone.now() - sync_config().verify_interval
    job_ids = list(
        Attendee.objects.filter(party=party, sync_state=SyncState.SENT, sent_at__lte=due)
        .exclude(import_job_id="")
        .order_by("import_job_id")
        .values_list("import_job_id", flat=True)
        .distinct()[: sync_config().max_job_polls]
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
        ).update(
            # The import refused their profile as sent: sending it again changes nothing.
            sync_state=SyncState.FAILED,
            state_reason=why[:500],
            refused_as_sent=True,
            updated_at=now,
        )
    return failed


def next_check_at(sent_at: datetime | None, checked_at: datetime | None) -> datetime:
    """When a sent attendee is next read back (`core.backoff.next_look_at`). Sending sets
    `sent_at`; a row without one is read back now rather than never."""
    if sent_at is None:
        return timezone.now()
    return next_look_at(sent_at, checked_at, interval=sync_config().verify_interval)


def _verify_sent(party: Party, client: KlaviyoClient, report: SyncReport) -> None:
    """Sent attendees whose import is done, each read back as their place asks: members
    of the list now (registered), their consent recorded (waitlisted or offered), out of
    the list (cancelled); or why not."""
    now = timezone.now()
    sent = Attendee.objects.filter(
        party=party,
        sync_state=SyncState.SENT,
        import_job_id="",
        sent_at__lte=now - sync_config().verify_interval,
    )

    def due(which: Q) -> Iterator[Attendee]:
        return (
            attendee
            for attendee in _each(sent.filter(which))
            if next_check_at(attendee.sent_at, attendee.checked_at) <= now
        )

    def members(attendees: list[Attendee]) -> list[Attendee]:
        return _mark_members(party, client, attendees, report)

    def classify(attendees: list[Attendee]) -> list[Attendee]:
        _classify_non_members(party, client, attendees)
        return []

    def consented(attendees: list[Attendee]) -> list[Attendee]:
        _mark_consented(party, client, attendees, report)
        return []

    def removed(attendees: list[Attendee]) -> list[Attendee]:
        _mark_removed(party, client, attendees, report)
        return []

    staying = Q(erased_at__isnull=True)
    for chunk in _chunks(due(staying & Q(place__in=LIST_PLACES)), MAX_PAGE_SIZE):
        missing = _read_in_halves(party, chunk, members, report)
        if missing:
            _read_in_halves(party, missing, classify, report)
    for chunk in _chunks(due(staying & Q(place__in=CONSENT_PLACES)), MAX_PAGE_SIZE):
        _read_in_halves(party, chunk, consented, report)
    for chunk in _chunks(due(LEAVES_LIST), MAX_PAGE_SIZE):
        _read_in_halves(party, chunk, removed, report)


def _recheck_awaiting(party: Party, client: KlaviyoClient, report: SyncReport) -> None:
    """Double opt-in: has the person confirmed yet (joined the list, or, waiting for a
    place, recorded their consent)? Read slowly, give up after a while."""
    now = timezone.now()
    config = sync_config()
    waiting = Attendee.objects.filter(party=party, sync_state=SyncState.AWAITING_CONFIRMATION)
    waiting.filter(sent_at__lt=now - config.confirmation_wait).update(
        sync_state=SyncState.NOT_CONFIRMED,
        state_reason=(
            "Klaviyo emailed a confirmation link, but it was not used within "
            f"{config.confirmation_wait.days} days. Klaviyo keeps the request; they join the "
            "list if they confirm later."
        ),
        updated_at=now,
    )
    due = waiting.filter(
        Q(checked_at__isnull=True) | Q(checked_at__lte=now - sync_config().confirmation_interval)
    )

    def members(attendees: list[Attendee]) -> list[Attendee]:
        return _mark_members(party, client, attendees, report)

    def consented(attendees: list[Attendee]) -> list[Attendee]:
        return _mark_consented(party, client, attendees, report)

    for places, read in ((LIST_PLACES, members), (CONSENT_PLACES, consented)):
        for chunk in _chunks(_each(due.filter(place__in=places)), MAX_PAGE_SIZE):
            missing = _read_in_halves(party, chunk, read, report)
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


def _mark_consented(
    party: Party, client: KlaviyoClient, attendees: list[Attendee], report: SyncReport
) -> list[Attendee]:
    """One read of consent for attendees kept out of the list (waitlisted, offered):
    `consented` once Klaviyo holds their consent, else suppressed, awaiting their
    confirmation, or not processed yet (sent ones are sent again after a while). Returns
    those whose consent is not recorded yet."""
    consents = {
        normalize_email(consent.email): consent
        for consent in client.profiles_with_consent(emails=[a.email for a in attendees])
    }
    double_opt_in = party.klaviyo_opt_in_process == OptInProcess.DOUBLE
    now = timezone.now()
    pending: list[Attendee] = []
    for attendee in attendees:
        consent = consents.get(attendee.email)
        still = Attendee.objects.filter(pk=attendee.pk, sync_state=attendee.sync_state)
        if not attendee.marketing_consent:
            # Declined marketing: done once Klaviyo holds their profile, whatever its consent.
            if consent is not None:
                report.confirmed += still.update(
                    sync_state=SyncState.CONSENTED,
                    klaviyo_profile_id=consent.profile_id,
                    checked_at=now,
                    state_reason="",
                    updated_at=now,
                )
            else:
                pending.append(attendee)
                if attendee.sync_state == SyncState.SENT:
                    _not_there_yet(attendee, still, now, "imported their profile")
            continue
        state, why = _state_from_profile(consent, party, double_opt_in)
        if consent is not None and state is None and consent.consent == "SUBSCRIBED":
            report.confirmed += still.update(
                sync_state=SyncState.CONSENTED,
                klaviyo_profile_id=consent.profile_id,
                checked_at=now,
                state_reason="",
                updated_at=now,
            )
            continue
        pending.append(attendee)
        if state == SyncState.AWAITING_CONFIRMATION:
            why = (
                "Klaviyo emailed them a link to confirm their consent; they are in Klaviyo "
                "for the waitlist's emails once they click it."
            )
        if state is not None:
            still.update(sync_state=state, state_reason=why, checked_at=now, updated_at=now)
        elif attendee.sync_state == SyncState.SENT:
            # Only what was just sent is sent again: one awaiting confirmation would get a
            # second confirmation email (`_recheck_awaiting` gives up on them in time).
            _not_there_yet(attendee, still, now, "recorded their consent")
    connection_record_success(connection=party.connection)
    return pending


def _mark_removed(
    party: Party, client: KlaviyoClient, attendees: list[Attendee], report: SyncReport
) -> None:
    """One read of the list for cancelled attendees: `removed` once Klaviyo shows them out
    of it. One still in it (a subscribe job of theirs Klaviyo ran after the removal, say)
    keeps the profile id the list shows, and is removed again after a while."""
    found = {
        normalize_email(member.email): member.profile_id
        for member in client.list_members_among(
            list_id=party.klaviyo_list_id, emails=[a.email for a in attendees]
        )
    }
    now = timezone.now()
    for attendee in attendees:
        still_sent = Attendee.objects.filter(pk=attendee.pk, sync_state=SyncState.SENT)
        profile_id = found.get(attendee.email)
        if profile_id is None:
            report.confirmed += still_sent.update(
                sync_state=SyncState.REMOVED,
                # Out of the list: signing up again subscribes them again.
                synced_at=None,
                checked_at=now,
                state_reason="",
                updated_at=now,
            )
            continue
        still_sent.update(klaviyo_profile_id=profile_id)
        _not_there_yet(attendee, still_sent, now, "taken them out of the list")
    connection_record_success(connection=party.connection)


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
        if not attendee.marketing_consent:
            # Imported into the list, consent untouched: neither a suppression nor a double
            # opt-in keeps them out, so not being there yet is all it can be.
            state = None
        still_sent = Attendee.objects.filter(pk=attendee.pk, sync_state=SyncState.SENT)
        if state is not None:
            still_sent.update(sync_state=state, state_reason=why, checked_at=now, updated_at=now)
        else:
            _not_there_yet(attendee, still_sent, now, "added them to the list")


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


def _not_there_yet(attendee: Attendee, still_sent: Any, now: datetime, done: str) -> None:
    """Klaviyo does not show what was sent yet (`done`: what it has not done, in words):
    looked at again later, sent again after `sent_give_up`, at most `max_attempts` times."""
    if not (attendee.sent_at and attendee.sent_at < now - sync_config().sent_give_up):
        still_sent.update(checked_at=now)
    elif attendee.attempts >= sync_config().max_attempts:
        still_sent.update(
            sync_state=SyncState.FAILED,
            state_reason=(
                f"Klaviyo accepted them {attendee.attempts} times but never {done}. Check "
                "the address in Klaviyo, then retry."
            ),
            refused_as_sent=False,
            checked_at=now,
            updated_at=now,
        )
    else:
        still_sent.update(
            sync_state=SyncState.PENDING,
            state_reason=f"Klaviyo had not {done} yet; sending again.",
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
    while page := list(attendees.filter(pk__gt=last).order_by("pk")[: sync_config().read_page]):
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
