"""Background work for Klaviyo connections: keeping idle refresh tokens alive.

Klaviyo revokes a refresh token left unused for 90 days. A connection in use refreshes every
hour anyway; a quiet tenant's does not, so a periodic pass (hourly, a self-rescheduling task
like the parties' sweep) refreshes every active connection whose last refresh is older than
KLAVIYO_KEEPALIVE_DAYS. The refreshes it finds due are spread at random over the next hour or
longer (at most about KEEPALIVE_PER_MINUTE a minute), so a thousand connections made on the
same day do not all refresh in the same minute. Each goes through the token door like any
refresh: single-flight, within the connection's refresh budget, audited.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from core.periodic import schedule_next_pass
from integrations import tokens
from integrations.errors import ConnectionUnusable
from integrations.fields import SecretDecryptionError
from integrations.klaviyo.errors import KlaviyoError
from integrations.models import ConnectionStatus, KlaviyoConnection

logger = logging.getLogger(__name__)

# How often the keep-alive pass looks for idle connections.
KEEPALIVE_SWEEP_SECONDS = 3600
# The most keep-alive refreshes one pass starts per minute, on average, across connections.
KEEPALIVE_PER_MINUTE = 10


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
