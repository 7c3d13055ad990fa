"""The one door to a connection's access token, and the only caller of the refresh grant.

Refresh is single-flight across threads and processes without holding a transaction or a
row lock across the HTTP call to Klaviyo (on SQLite that would block every other writer; on
PostgreSQL it would pin a connection for the whole call):

1. the refresher claims a short lease on the connection row with one conditional UPDATE
   (the lease outlives the HTTP timeout, then expires by itself if its holder dies);
2. it re-reads the row, in case another process refreshed in the meantime;
3. it calls Klaviyo, then saves the new tokens and releases the lease in one short
   transaction (a response without a new refresh token keeps the old one).

Everyone else waits by re-reading the row until the lease is released, then uses the new
token. Klaviyo allows ten refreshes per minute per installation; a 429 from its token
endpoint is waited out (the current access token stays valid meanwhile), never treated as a
dead token.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.fields import reveal
from integrations.klaviyo import oauth
from integrations.klaviyo.config import KlaviyoConfig, klaviyo_config
from integrations.klaviyo.errors import (
    KlaviyoInvalidGrant,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
)
from integrations.models import (
    ConnectionEvent,
    ConnectionStatus,
    EventKind,
    KlaviyoConnection,
)

logger = logging.getLogger(__name__)

# Refresh when less than this remains, so a token never expires mid-request.
REFRESH_MARGIN_SECONDS = 60
# How often a waiting caller re-reads the row while someone else refreshes.
LEASE_POLL_SECONDS = 0.05
# The longest we wait out Klaviyo's refresh limit inside one call before giving up.
MAX_RATE_LIMIT_WAIT_SECONDS = 65


class ConnectionUnusable(Exception):
    """The connection cannot give out tokens until a person acts (reconnect or connect)."""

    def __init__(self, connection: KlaviyoConnection) -> None:
        super().__init__(
            f"Klaviyo connection {connection.pk} is {connection.get_status_display().lower()}."
        )
        self.connection_id = connection.pk
        self.status = connection.status


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
) -> str:
    """A token newer than `rejected` (which Klaviyo just answered with 401)."""
    return _refresh_single_flight(
        connection_id=connection.pk,
        rejected=rejected,
        config=config or klaviyo_config(),
        sleep=sleep,
    )


def refresh_now(*, connection: KlaviyoConnection, config: KlaviyoConfig | None = None) -> str:
    """Refresh even though the current token is still valid (operators, `klaviyo_refresh`)."""
    current = reveal(_reload(connection).access_token)
    return get_refreshed_access_token(connection=connection, rejected=current, config=config)


class ConnectionTokenSource:
    """Adapts a connection to the Klaviyo client's TokenSource protocol."""

    def __init__(self, connection: KlaviyoConnection, config: KlaviyoConfig | None = None) -> None:
        self.connection = connection
        self.config = config

    def access_token(self) -> str:
        return get_access_token(connection=self.connection, config=self.config)

    def refreshed_access_token(self, *, rejected: str) -> str:
        return get_refreshed_access_token(
            connection=self.connection, rejected=rejected, config=self.config
        )


def _reload(connection: KlaviyoConnection) -> KlaviyoConnection:
    return KlaviyoConnection.objects.get(pk=connection.pk)


def _ensure_usable(row: KlaviyoConnection) -> None:
    if row.status != ConnectionStatus.ACTIVE:
        raise ConnectionUnusable(row)


def _is_fresh(row: KlaviyoConnection, rejected: str | None) -> bool:
    """Whether the row holds a usable token other than the one that was rejected or stale."""
    token = reveal(row.access_token)
    return (
        bool(token)
        and token != rejected
        and not row.access_token_expires_within(REFRESH_MARGIN_SECONDS)
    )


def _refresh_single_flight(
    *,
    connection_id: int,
    rejected: str | None,
    config: KlaviyoConfig,
    sleep: Callable[[float], None],
) -> str:
    lease = lease_seconds(config)
    # A waiter gives up after two leases plus a rate-limit wait: by then the holder has
    # either finished or its lease has expired and been taken over.
    deadline = time.monotonic() + 2 * lease + MAX_RATE_LIMIT_WAIT_SECONDS
    while True:
        holder = secrets.token_hex(16)
        if _claim_lease(connection_id, holder=holder, seconds=lease):
            try:
                return _refresh_holding_lease(
                    connection_id, holder=holder, rejected=rejected, config=config
                )
            except KlaviyoRateLimited as error:
                row = KlaviyoConnection.objects.get(pk=connection_id)
                token = reveal(row.access_token)
                if token and token != rejected and not row.access_token_expires_within(0):
                    # Still valid: use it and let a later call refresh.
                    return token
                wait = min(max(error.retry_after or 1.0, LEASE_POLL_SECONDS), 60.0)
                if time.monotonic() + wait > deadline:
                    raise
                logger.warning(
                    "Klaviyo refresh limit reached for connection %s; retrying in %.0f s",
                    connection_id,
                    wait,
                )
                sleep(wait)
                continue

        row = KlaviyoConnection.objects.get(pk=connection_id)
        _ensure_usable(row)
        if _is_fresh(row, rejected):
            return reveal(row.access_token)
        if time.monotonic() > deadline:
            raise KlaviyoUnavailable(detail="Timed out waiting for another token refresh.")
        sleep(LEASE_POLL_SECONDS)


def _claim_lease(connection_id: int, *, holder: str, seconds: float) -> bool:
    now = timezone.now()
    claimed = (
        KlaviyoConnection.objects.filter(pk=connection_id, status=ConnectionStatus.ACTIVE)
        .filter(Q(refresh_lease_expires_at__isnull=True) | Q(refresh_lease_expires_at__lt=now))
        .update(
            refresh_lease_holder=holder, refresh_lease_expires_at=now + timedelta(seconds=seconds)
        )
    )
    return claimed == 1


def _release_lease(connection_id: int, *, holder: str) -> None:
    KlaviyoConnection.objects.filter(pk=connection_id, refresh_lease_holder=holder).update(
        refresh_lease_holder="", refresh_lease_expires_at=None
    )


def _refresh_holding_lease(
    connection_id: int, *, holder: str, rejected: str | None, config: KlaviyoConfig
) -> str:
    row = KlaviyoConnection.objects.get(pk=connection_id)
    if _is_fresh(row, rejected):
        _release_lease(connection_id, holder=holder)
        return reveal(row.access_token)
    refresh_token = reveal(row.refresh_token)
    if not refresh_token:
        _release_lease(connection_id, holder=holder)
        mark_needs_reconnect(connection=row, reason="No refresh token is stored.")
        raise ConnectionUnusable(KlaviyoConnection.objects.get(pk=connection_id))

    try:
        response = oauth.refresh(config=config, refresh_token=refresh_token)
    except KlaviyoInvalidGrant:
        _release_lease(connection_id, holder=holder)
        latest = KlaviyoConnection.objects.get(pk=connection_id)
        if reveal(latest.refresh_token) != refresh_token:
            # Someone else refreshed (and rotated the token) after our lease expired.
            return get_access_token(connection=latest, config=config)
        mark_needs_reconnect(
            connection=latest,
            reason=(
                "Klaviyo rejected the refresh token: the app was uninstalled or the token expired."
            ),
        )
        raise ConnectionUnusable(KlaviyoConnection.objects.get(pk=connection_id)) from None
    except KlaviyoRateLimited:
        _release_lease(connection_id, holder=holder)
        raise
    except Exception as error:
        _release_lease(connection_id, holder=holder)
        _record_refresh_failure(row, error)
        raise

    now = timezone.now()
    with transaction.atomic():
        updates = {
            "access_token": response.access_token,
            "access_token_expires_at": now + timedelta(seconds=response.expires_in),
            "last_refreshed_at": now,
            "last_error": "",
            "last_error_at": None,
            "refresh_lease_holder": "",
            "refresh_lease_expires_at": None,
        }
        if response.refresh_token:
            updates["refresh_token"] = response.refresh_token
        if response.scopes:
            updates["scopes"] = list(response.scopes)
        # Saved whether or not we still hold the lease (the tokens Klaviyo just issued are
        # the newest, and with rotation the previous refresh token no longer works), but only
        # while the connection is active: a disconnect during the call erased the tokens and
        # they must stay erased.
        saved = KlaviyoConnection.objects.filter(
            pk=connection_id, status=ConnectionStatus.ACTIVE
        ).update(**updates, updated_at=now)
        if saved:
            ConnectionEvent.objects.create(
                organization_id=row.organization_id,
                connection_id=connection_id,
                kind=EventKind.REFRESHED,
            )
    if not saved:
        logger.info("Connection %s was disconnected during its refresh", connection_id)
        raise ConnectionUnusable(KlaviyoConnection.objects.get(pk=connection_id))
    logger.info("Refreshed the Klaviyo access token of connection %s", connection_id)
    return response.access_token


def _record_refresh_failure(row: KlaviyoConnection, error: Exception) -> None:
    reason = _short_reason(error)
    now = timezone.now()
    with transaction.atomic():
        KlaviyoConnection.objects.filter(pk=row.pk).update(last_error=reason, last_error_at=now)
        ConnectionEvent.objects.create(
            organization_id=row.organization_id,
            connection_id=row.pk,
            kind=EventKind.REFRESH_FAILED,
            reason=reason,
        )
    logger.warning("Refreshing the Klaviyo token of connection %s failed: %s", row.pk, reason)


def _short_reason(error: Exception) -> str:
    # Klaviyo errors' messages never hold tokens or bodies (integrations.klaviyo.errors).
    return f"{type(error).__name__}: {error}"[:255]


def mark_needs_reconnect(*, connection: KlaviyoConnection, reason: str) -> None:
    """The connection's refresh token is dead: work pauses until someone reconnects."""
    now = timezone.now()
    with transaction.atomic():
        changed = KlaviyoConnection.objects.filter(
            pk=connection.pk, status=ConnectionStatus.ACTIVE
        ).update(
            status=ConnectionStatus.NEEDS_RECONNECT,
            last_error=reason[:500],
            last_error_at=now,
            updated_at=now,
        )
        if changed:
            ConnectionEvent.objects.create(
                organization_id=connection.organization_id,
                connection_id=connection.pk,
                kind=EventKind.NEEDS_RECONNECT,
                reason=reason[:255],
            )
    if changed:
        logger.warning("Klaviyo connection %s needs reconnecting: %s", connection.pk, reason)
