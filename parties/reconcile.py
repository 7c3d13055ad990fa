"""Reconciliation: compare a party's signups with its Klaviyo list's members, as a task.

Reads the list 100 members a page (Klaviyo's largest page) up to `MAX_MEMBERS`, keeps every
count exact and the first `Reconciliation.MAX_DIFFERENCES` differences for the page and its
CSV. Learns the Klaviyo profile ids of the attendees it finds.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from accounts.models import normalize_email
from integrations.clients import klaviyo_client
from integrations.errors import CONNECTION_FAILURES, ConnectionUnusable
from integrations.fields import SecretDecryptionError
from integrations.models import KlaviyoConnection
from integrations.services import connection_record_success
from parties.models import Attendee, Reconciliation, ReconciliationStatus

logger = logging.getLogger(__name__)

# A bound on one run: 500 reads of 100 members (Klaviyo's steady limit for this read is
# 750 a minute, so this takes under a minute of the budget).
MAX_MEMBERS = 50_000
MISSING = "missing_in_klaviyo"
ONLY_THERE = "only_in_klaviyo"


def reconciliation_run(*, reconciliation_id: int) -> Reconciliation | None:
    # Only a queued one starts: a second worker given the same task does nothing.
    started = Reconciliation.objects.filter(
        pk=reconciliation_id, status=ReconciliationStatus.QUEUED
    ).update(status=ReconciliationStatus.RUNNING)
    run = Reconciliation.objects.select_related("party__connection").filter(pk=reconciliation_id)
    reconciliation = run.first()
    if not started or reconciliation is None:
        return reconciliation
    party = reconciliation.party
    try:
        in_klaviyo, truncated = _members(party.connection, party.klaviyo_list_id)
    except CONNECTION_FAILURES as error:
        logger.info("Reconciling party %s against Klaviyo failed: %s", party.pk, error)
        run.update(
            status=ReconciliationStatus.FAILED,
            error=_problem(error)[:500],
            finished_at=timezone.now(),
        )
        return run.first()
    connection_record_success(connection=party.connection)

    differences: list[dict[str, str]] = []
    matched = missing = 0
    found: list[Attendee] = []
    local = party.attendees.order_by("email").only(
        "pk", "email", "sync_state", "klaviyo_profile_id"
    )
    local_emails: set[str] = set()
    for attendee in local.iterator(chunk_size=2000):
        local_emails.add(attendee.email)
        profile_id = in_klaviyo.get(attendee.email)
        if profile_id is None:
            missing += 1
            differences.append(
                {
                    "email": attendee.email,
                    "difference": MISSING,
                    "state": attendee.get_sync_state_display(),
                }
            )
            continue
        matched += 1
        if attendee.klaviyo_profile_id != profile_id:
            attendee.klaviyo_profile_id = profile_id
            found.append(attendee)
    only_there = sorted(set(in_klaviyo) - local_emails)
    differences.extend(
        {"email": email, "difference": ONLY_THERE, "state": ""} for email in only_there
    )
    Attendee.objects.bulk_update(found, ["klaviyo_profile_id"], batch_size=500)
    run.update(
        status=ReconciliationStatus.DONE,
        members_read=len(in_klaviyo),
        matched=matched,
        missing_in_klaviyo=missing,
        only_in_klaviyo=len(only_there),
        differences=differences[: Reconciliation.MAX_DIFFERENCES],
        truncated=truncated or len(differences) > Reconciliation.MAX_DIFFERENCES,
        finished_at=timezone.now(),
    )
    return run.first()


def _members(connection: KlaviyoConnection, list_id: str) -> tuple[dict[str, str], bool]:
    """{email: profile id} of the list's members, and whether MAX_MEMBERS cut it short."""
    client = klaviyo_client(connection=connection)
    members: dict[str, str] = {}
    for member in client.iter_list_profiles(list_id=list_id, fields=["email"]):
        if member.email:
            members[normalize_email(member.email)] = member.profile_id
        if len(members) >= MAX_MEMBERS:
            return members, True
    return members, False


def _problem(error: Exception) -> str:
    if isinstance(error, ConnectionUnusable):
        return (
            "Klaviyo no longer accepts this party's connection, so its list cannot be read. "
            "Reconnect it on the Integrations page, then check again."
        )
    if isinstance(error, SecretDecryptionError):
        return (
            "The server cannot read its Klaviyo tokens, so the list cannot be read. The "
            "operator must fix the server's encryption keys."
        )
    return (
        f"Klaviyo could not be asked for the list's members ({error}). Nothing was changed. "
        "Please try again in a few minutes."
    )
