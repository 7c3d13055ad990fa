"""Background work for Klaviyo connections: keeping idle refresh tokens alive, and revoking
the installations of a deleted organization's connections.

Klaviyo revokes a refresh token left unused for 90 days. A connection in use refreshes every
hour anyway; a quiet tenant's does not, so a periodic pass (hourly, a self-rescheduling task
like the parties' sweep) refreshes every active connection whose last refresh is older than
KLAVIYO_KEEPALIVE_DAYS. The refreshes it finds due are spread at random over the next hour or
longer (at most about KEEPALIVE_PER_MINUTE a minute), so a thousand connections made on the
same day do not all refresh in the same minute. Each goes through the token door like any
refresh: single-flight, within the connection's refresh budget, audited.

Deleting an organization deletes its connections in the request's transaction, and queues one
revoke per connection in it: the organizer never waits on Klaviyo, and the task needs neither
row. It carries the refresh token sealed as the column stored it (the same encryption, keys and
fallbacks), so the queue never holds a token in plain text, and the ids for its log.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from accounts.models import Organization
from core.backoff import backoff_delay
from core.periodic import schedule_next_pass
from core.wording import wait_text
from integrations import tokens
from integrations.errors import ConnectionUnusable
from integrations.fields import EncryptedSecretField, SecretDecryptionError, reveal
from integrations.klaviyo import oauth
from integrations.klaviyo.config import klaviyo_config
from integrations.klaviyo.errors import (
    KlaviyoError,
    KlaviyoInvalidClient,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
)
from integrations.models import ConnectionStatus, KlaviyoConnection

logger = logging.getLogger(__name__)

# How often the keep-alive pass looks for idle connections.
KEEPALIVE_SWEEP_SECONDS = 3600
# The most keep-alive refreshes one pass starts per minute, on average, across connections.
KEEPALIVE_PER_MINUTE = 10
# A revoke Klaviyo cannot take now is tried again after a doubling wait, this many times in
# all (about 15 hours). Given up, the refresh token lapses by itself after 90 days unused.
REVOKE_ATTEMPTS = 10
REVOKE_FIRST_RETRY_SECONDS = 60
REVOKE_MAX_RETRY_SECONDS = 6 * 3600
# What may pass, by itself or when the operator fixes the keys or the app's credentials.
REVOKE_RETRIED = (
    KlaviyoUnavailable,
    KlaviyoRateLimited,
    KlaviyoInvalidClient,
    SecretDecryptionError,
)


@task()
def keep_alive(*, reschedule: bool = True) -> dict[str, int]:
    """The periodic keep-alive pass. The next pass is scheduled however this one ends."""
    try:
        return keep_alive_now()
    finally:
        if reschedule:
            schedule_keep_alive(delay=KEEPALIVE_SWEEP_SECONDS)


@task()
def keep_alive_connection(*, connection_id: int) -> str:
    """Refresh one idle connection's tokens, unless something refreshed it meanwhile."""
    connection = idle_connections().filter(pk=connection_id).first()
    if connection is None:
        return "not needed"
    idle_days = (timezone.now() - _last_refresh(connection)).days
    try:
        tokens.refresh_now(
            connection=connection, reason=f"Kept alive after {idle_days} days without a refresh"
        )
    except ConnectionUnusable:
        return "needs reconnect"
    except (KlaviyoError, SecretDecryptionError) as error:
        # Still idle, so the next pass tries again (weeks before Klaviyo's 90 days are up).
        logger.warning(
            "Keep-alive refresh of Klaviyo connection %s failed: %s", connection_id, error
        )
        return "failed"
    return "refreshed"


def idle_connections(*, now: datetime | None = None) -> QuerySet[KlaviyoConnection]:
    """Active connections whose tokens were last refreshed (or issued) before the idle limit."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.KLAVIYO_KEEPALIVE_DAYS)
    return KlaviyoConnection.objects.filter(status=ConnectionStatus.ACTIVE).filter(
        Q(last_refreshed_at__lt=cutoff) | Q(last_refreshed_at__isnull=True, connected_at__lt=cutoff)
    )


def keep_alive_now() -> dict[str, int]:
    """Queue a refresh, spread over time, for every idle connection without one queued."""
    now = timezone.now()
    queued = _queued_connection_ids()
    due = [pk for pk in idle_connections(now=now).values_list("pk", flat=True) if pk not in queued]
    random.shuffle(due)
    # Each connection gets its own stretch of the spread and a random moment within it.
    spread = max(KEEPALIVE_SWEEP_SECONDS, 60 * len(due) / KEEPALIVE_PER_MINUTE)
    stretch = spread / len(due) if due else 0
    for position, connection_id in enumerate(due):
        delay = (position + random.random()) * stretch  # noqa: S311 (jitter, not a secret)
        keep_alive_connection.using(run_after=now + timedelta(seconds=delay)).enqueue(
            connection_id=connection_id
        )
    if due:
        logger.info(
            "Keep-alive: %d idle Klaviyo connections to refresh over the next %.0f minutes",
            len(due),
            spread / 60,
        )
    return {"queued": len(due), "already_queued": len(queued)}


def schedule_keep_alive(*, delay: float = 0) -> bool:
    """Queue the next keep-alive pass unless one is already waiting (one chain, not many)."""
    return schedule_next_pass(keep_alive, delay=delay)


def _last_refresh(connection: KlaviyoConnection) -> datetime:
    return connection.last_refreshed_at or connection.connected_at


def _queued_connection_ids() -> set[int]:
    """Connections with a keep-alive refresh already waiting in the queue."""
    waiting = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=keep_alive_connection.module_path
    ).values_list("args_kwargs", flat=True)
    return {args_kwargs["kwargs"]["connection_id"] for args_kwargs in waiting}


# --- Revoking a deleted organization's installations -----------------------------------------


def _refresh_token_field() -> EncryptedSecretField:
    return cast(EncryptedSecretField, KlaviyoConnection._meta.get_field("refresh_token"))


def connections_revoke_later(*, organization: Organization) -> int:
    """Queue the revoke of each of the organization's connections that holds a refresh token,
    in the caller's transaction (the queue is a table: rolled back, nothing is queued).

    The token is sealed by the column's own field: encrypted again under the newest key, or,
    when the keys cannot open it, its ciphertext as stored (the task then reports the keys).
    """
    field = _refresh_token_field()
    live = KlaviyoConnection.objects.filter(organization=organization, refresh_token__isnull=False)
    queued = 0
    for connection in live.exclude(status=ConnectionStatus.REVOKED):
        revoke_installation.enqueue(
            connection_id=connection.pk,
            organization_id=organization.pk,
            klaviyo_account_id=connection.klaviyo_account_id,
            sealed_refresh_token=field.get_prep_value(connection.refresh_token),
        )
        queued += 1
    return queued


@task()
def revoke_installation(
    *,
    connection_id: int,
    organization_id: int,
    klaviyo_account_id: str,
    sealed_refresh_token: str,
    attempt: int = 1,
) -> str:
    """Revoke a deleted connection's refresh token, which uninstalls Partyline's app from the
    Klaviyo account (`oauth.revoke`, as a disconnect does), retrying while Klaviyo cannot
    take it.

    Not when another organization still holds a live connection to the same Klaviyo account:
    the app's installation is one per account, so revoking would cut that organization off too.
    """
    shared = KlaviyoConnection.objects.filter(klaviyo_account_id=klaviyo_account_id).exclude(
        status=ConnectionStatus.REVOKED
    )
    if shared.exists():
        logger.info(
            "Did not revoke Klaviyo connection %s of deleted organization %s: another "
            "organization still uses that Klaviyo account's installation",
            connection_id,
            organization_id,
        )
        return "shared"
    try:
        refresh_token = reveal(_refresh_token_field().to_python(sealed_refresh_token))
        oauth.revoke(config=klaviyo_config(), token=refresh_token)
    except REVOKE_RETRIED as error:
        if attempt >= REVOKE_ATTEMPTS:
            logger.warning(
                "Gave up revoking Klaviyo connection %s of deleted organization %s (it lapses "
                "after 90 days unused; removing Partyline in the Klaviyo account ends it now): "
                "%s",
                connection_id,
                organization_id,
                error,
            )
            return "gave up"
        delay = backoff_delay(
            attempt - 1, first=REVOKE_FIRST_RETRY_SECONDS, cap=REVOKE_MAX_RETRY_SECONDS
        )
        if isinstance(error, KlaviyoRateLimited):
            delay = max(delay, error.retry_after)
        revoke_installation.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(
            connection_id=connection_id,
            organization_id=organization_id,
            klaviyo_account_id=klaviyo_account_id,
            sealed_refresh_token=sealed_refresh_token,
            attempt=attempt + 1,
        )
        logger.warning(
            "Revoking Klaviyo connection %s of deleted organization %s failed, trying again in "
            "%s: %s",
            connection_id,
            organization_id,
            wait_text(delay),
            error,
        )
        return "retrying"
    except KlaviyoError as error:
        # A request Klaviyo refuses as such: sending it again unchanged cannot help.
        logger.warning(
            "Klaviyo refused to revoke connection %s of deleted organization %s: %s",
            connection_id,
            organization_id,
            error,
        )
        return "refused"
    logger.info(
        "Revoked Klaviyo connection %s of deleted organization %s", connection_id, organization_id
    )
    return "revoked"
