"""The one door to a connection's access token, and the only caller of the refresh grant.

Refresh is single-flight across threads and processes without holding a transaction or a
row lock across the HTTP call to Klaviyo (on SQLite that would block every other writer; on
PostgreSQL it would pin a connection for the whole call):

1. the refresher claims a short lease on the connection row with one conditional UPDATE
   (the lease outlives the HTTP timeout, then expires by itself if its holder dies);
2. it re-reads the row, in case another process refreshed in the meantime;
3. it calls Klaviyo, then saves the new tokens and releases the lease in one short
   transaction (a response without a new refresh token keeps the old one).

Everyone else waits until the lease is released, then uses the new token. On PostgreSQL a
waiter LISTENs on the connection's channel and the refresher NOTIFYs from the transaction that
saves the token, so waiters wake as it lands (a storm of callers ends with the refresh, not
with their next poll). Between notifications, and where there are none (SQLite, a caller
inside a transaction, a refresher that died), a waiter re-reads the row at growing intervals.

Klaviyo allows ten refreshes per minute per installation. Every refresh (proactive, after a
401, forced by an operator, keep-alive) is first counted against the connection's refresh
budget (`integrations.refresh_budget`, in Klaviyo's fixed one-minute windows); when this
minute's ten are used, the lease holder waits for the next minute, keeping its lease, while
everyone else waits for it. A 429 from the token endpoint all the same is waited out (the
current access token stays valid meanwhile), never treated as a dead token.

What a refresh's outcome means for the connection (the scope policy, needs-reconnect, the
audit trail) is decided by `integrations.services`; this module only runs the door.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db.models import Q
from django.utils import timezone

from core.backoff import backoff_delay
from core.leases import Lease, new_holder
from integrations import services
from integrations.errors import ConnectionUnusable
from integrations.fields import reveal
from integrations.klaviyo import oauth
from integrations.klaviyo.config import KlaviyoConfig, klaviyo_config
from integrations.klaviyo.errors import (
    KlaviyoInvalidGrant,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
)
from integrations.models import ConnectionStatus, KlaviyoConnection
from integrations.refresh_budget import REFRESH_BUDGET, refresh_acquire
from integrations.token_wakeup import listen, unlisten, wait_for_notification

logger = logging.getLogger(__name__)

# Refresh when less than this remains, so a token never expires mid-request.
REFRESH_MARGIN_SECONDS = 60
# Unless a notification wakes it first, a waiting caller re-reads the row first after this
# long, then after about as long again as it has waited so far (jittered), so it sees the new
# token at most about twice the refresh's own time after the wait began, with a handful of
# queries instead of one every few ms...
FIRST_POLL_SECONDS = 0.01
# ...and never less often than this while a refresh waits for Klaviyo's limit.
MAX_POLL_SECONDS = 1.0
# The longest we wait out Klaviyo's refresh limit inside one call before giving up.
MAX_RATE_LIMIT_WAIT_SECONDS = 65
# The single-flight refresh lease on the connection row.
REFRESH_LEASE = Lease(KlaviyoConnection, "refresh_lease_holder", "refresh_lease_expires_at")


def lease_seconds(config: KlaviyoConfig) -> float:
    """Long enough to outlive one token call (connect and read timeouts) with room to spare."""
    return 2 * config.timeout + 5


def get_access_token(
    *,
    connection: KlaviyoConnection,
    config: KlaviyoConfig | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """A valid access token for the connection, refreshed first when it expires within 60 s."""
    row = _reload(connection)
    _ensure_usable(row)
    token = reveal(row.access_token)
    if token and not row.access_token_expires_within(REFRESH_MARGIN_SECONDS):
        return token
    # Nothing was rejected: the current token is only near its expiry, so it stays usable
    # if Klaviyo's refresh limit makes us wait.
    return _refresh_single_flight(
        connection_id=row.pk, rejected=None, config=config or klaviyo_config(), sleep=sleep
    )


def get_refreshed_access_token(
    *,
    connection: KlaviyoConnection,
    rejected: str | None,
    config: KlaviyoConfig | None = None,
    sleep: Callable[[float], None] = time.sleep,
    reason: str = "",
) -> str:
    """A token newer than `rejected` (which Klaviyo just answered with 401)."""
    return _refresh_single_flight(
        connection_id=connection.pk,
        rejected=rejected,
        config=config or klaviyo_config(),
        sleep=sleep,
        reason=reason,
    )


def refresh_now(
    *,
    connection: KlaviyoConnection,
    config: KlaviyoConfig | None = None,
    sleep: Callable[[float], None] = time.sleep,
    reason: str = "",
) -> str:
    """Refresh even though the current token is still valid (operators, `klaviyo_refresh`,
    keep-alive). Within Klaviyo's refresh limit like every refresh: beyond it, this waits.
    `reason` is recorded on the refresh's audit event."""
    current = reveal(_reload(connection).access_token)
    return get_refreshed_access_token(
        connection=connection, rejected=current, config=config, sleep=sleep, reason=reason
    )


def _reload(connection: KlaviyoConnection) -> KlaviyoConnection:
    return KlaviyoConnection.objects.get(pk=connection.pk)


def _ensure_usable(row: KlaviyoConnection) -> None:
    if row.status != ConnectionStatus.ACTIVE:
        raise ConnectionUnusable(row)


def _fresh_token(row: KlaviyoConnection, rejected: str | None) -> str | None:
    """The row's token if it is usable and not the one that was rejected or stale."""
    token = reveal(row.access_token)
    if token and token != rejected and not row.access_token_expires_within(REFRESH_MARGIN_SECONDS):
        return token
    return None


def _still_valid(row: KlaviyoConnection, rejected: str | None) -> str | None:
    """The current token if Klaviyo still accepts it (not rejected, not expired)."""
    token = reveal(row.access_token)
    if token and token != rejected and not row.access_token_expires_within(0):
        return token
    return None


def _refresh_single_flight(
    *,
    connection_id: int,
    rejected: str | None,
    config: KlaviyoConfig,
    sleep: Callable[[float], None],
    reason: str = "",
) -> str:
    lease = lease_seconds(config)
    started = time.monotonic()
    # A waiter gives up after two leases plus a rate-limit wait: by then the holder has
    # either finished or its lease has expired and been taken over.
    deadline = started + 2 * lease + MAX_RATE_LIMIT_WAIT_SECONDS
    listening = False
    try:
        while True:
            holder = new_holder()
            if REFRESH_LEASE.claim(
                connection_id,
                holder=holder,
                seconds=lease,
                when=Q(status=ConnectionStatus.ACTIVE),
            ):
                try:
                    return _refresh_holding_lease(
                        connection_id,
                        holder=holder,
                        rejected=rejected,
                        config=config,
                        sleep=sleep,
                        reason=reason,
                    )
                except KlaviyoRateLimited as error:
                    row = KlaviyoConnection.objects.get(pk=connection_id)
                    token = _still_valid(row, rejected)
                    if token:
                        # Still valid: use it and let a later call refresh.
                        return token
                    wait = min(max(error.retry_after or 1.0, FIRST_POLL_SECONDS), 60.0)
                    if time.monotonic() + wait > deadline:
                        raise
                    logger.warning(
                        "Klaviyo refresh limit reached for connection %s; retrying in %.0f s",
                        connection_id,
                        wait,
                    )
                    sleep(wait)
                    continue
            # Listening before the row is read: a refresh saved after that read notifies us.
            listening = listening or listen(connection_id)
            token = _wait_for_refresher(
                connection_id,
                rejected=rejected,
                deadline=deadline,
                listening=listening,
                sleep=sleep,
            )
            if token:
                return token
    finally:
        if listening:
            unlisten(connection_id)


def _wait_for_refresher(
    connection_id: int,
    *,
    rejected: str | None,
    deadline: float,
    listening: bool,
    sleep: Callable[[float], None],
) -> str | None:
    """Wait while someone else holds the lease: the token they saved, or None when the lease
    is free again without one (their refresh failed or their lease expired: claim it).

    After waking, the row is read before the lease is claimed again, so a storm of waiters
    takes its new token with one read each instead of each taking and releasing the lease.
    Between reads a waiter sleeps by the project's one backoff, doubling from
    FIRST_POLL_SECONDS (so the first read after the refresh lands comes at most about twice
    the refresh's time after the wait began) and jittered so a storm of waiters does not read
    in step, or until a notification wakes it.
    """
    polls = 0
    while True:
        row = KlaviyoConnection.objects.get(pk=connection_id)
        _ensure_usable(row)
        fresh = _fresh_token(row, rejected)
        if fresh:
            return fresh
        if row.refresh_lease_expires_at is None or row.refresh_lease_expires_at < timezone.now():
            return None
        if time.monotonic() > deadline:
            raise KlaviyoUnavailable(detail="Timed out waiting for another token refresh.")
        delay = backoff_delay(polls, first=FIRST_POLL_SECONDS, cap=MAX_POLL_SECONDS, jitter=True)
        polls += 1
        if listening:
            wait_for_notification(delay)
        else:
            sleep(delay)


def _wait_for_refresh_budget(
    connection_id: int,
    *,
    holder: str,
    rejected: str | None,
    config: KlaviyoConfig,
    sleep: Callable[[float], None],
) -> str | None:
    """Count the refresh in this minute's budget, waiting (still holding the lease) for the
    next minute while this one's are used.

    Returns None once the refresh is counted, or the current token when it is still valid
    and was not rejected: then nobody needs to wait (a later call refreshes).
    """
    waited = 0.0
    while (wait := refresh_acquire(connection_id=connection_id)) > 0:
        row = KlaviyoConnection.objects.get(pk=connection_id)
        _ensure_usable(row)
        token = _still_valid(row, rejected)
        if token:
            return token
        if waited + wait > MAX_RATE_LIMIT_WAIT_SECONDS:
            raise KlaviyoRateLimited(
                retry_after=wait, code="refresh_budget", detail="refresh limit reached"
            )
        # Everyone else waits for this lease holder: keep the lease through the wait.
        REFRESH_LEASE.renew(connection_id, holder=holder, seconds=wait + lease_seconds(config))
        logger.info(
            "Klaviyo connection %s used its %d refreshes of this minute; waiting %.1f s",
            connection_id,
            REFRESH_BUDGET,
            wait,
        )
        sleep(wait)
        waited += wait
    return None


def _refresh_holding_lease(
    connection_id: int,
    *,
    holder: str,
    rejected: str | None,
    config: KlaviyoConfig,
    sleep: Callable[[float], None],
    reason: str = "",
) -> str:
    row = KlaviyoConnection.objects.get(pk=connection_id)
    fresh = _fresh_token(row, rejected)
    if fresh:
        REFRESH_LEASE.release(connection_id, holder=holder)
        return fresh
    refresh_token = reveal(row.refresh_token)
    if not refresh_token:
        REFRESH_LEASE.release(connection_id, holder=holder)
        services.connection_mark_needs_reconnect(
            connection=row, reason="No refresh token is stored."
        )
        raise ConnectionUnusable(KlaviyoConnection.objects.get(pk=connection_id))

    try:
        usable = _wait_for_refresh_budget(
            connection_id, holder=holder, rejected=rejected, config=config, sleep=sleep
        )
    except Exception:
        REFRESH_LEASE.release(connection_id, holder=holder)
        raise
    if usable is not None:
        REFRESH_LEASE.release(connection_id, holder=holder)
        return usable

    try:
        response = oauth.refresh(config=config, refresh_token=refresh_token)
    except KlaviyoInvalidGrant:
        REFRESH_LEASE.release(connection_id, holder=holder)
        latest = KlaviyoConnection.objects.get(pk=connection_id)
        if reveal(latest.refresh_token) != refresh_token:
            # Someone else refreshed (and rotated the token) after our lease expired.
            return get_access_token(connection=latest, config=config)
        services.connection_mark_needs_reconnect(
            connection=latest,
            reason=(
                "Klaviyo rejected the refresh token: the app was uninstalled or the token expired."
            ),
        )
        raise ConnectionUnusable(KlaviyoConnection.objects.get(pk=connection_id)) from None
    except KlaviyoRateLimited:
        REFRESH_LEASE.release(connection_id, holder=holder)
        raise
    except Exception as error:
        REFRESH_LEASE.release(connection_id, holder=holder)
        services.connection_refresh_failed(connection=row, error=error)
        raise

    saved, drift = services.connection_refresh_saved(
        connection=row, response=response, config=config, reason=reason
    )
    if not saved:
        logger.info("Connection %s was disconnected during its refresh", connection_id)
        raise ConnectionUnusable(KlaviyoConnection.objects.get(pk=connection_id))
    if drift:
        raise ConnectionUnusable(KlaviyoConnection.objects.get(pk=connection_id))
    logger.info("Refreshed the Klaviyo access token of connection %s", connection_id)
    return response.access_token
