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
401, forced by an operator, keep-alive) first takes one of the connection's refresh slots
(`RefreshSlot`, claimed by a conditional UPDATE, so the budget holds across processes); when
all ten were used within the last minute, the lease holder waits for the oldest to free up
while everyone else waits for it. A 429 from the token endpoint all the same is waited out
(the current access token stays valid meanwhile), never treated as a dead token.

After every refresh the scopes Klaviyo granted are compared with those the product needs; a
missing one turns the connection needs-reconnect with a reason naming it. Turning
needs-reconnect queues one email to the organization's owners and admins
(`integrations.notifications`), from the conditional UPDATE that changed the status.
"""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.db import DatabaseError, transaction
from django.db import connection as database
from django.db.models import F, Q
from django.utils import timezone

from integrations import notifications
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
    RefreshSlot,
)

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
# Klaviyo's refresh limit per installation: this many refreshes in any such window. The window
# has a second of margin for the difference between our clocks and Klaviyo's.
REFRESH_BUDGET = 10
REFRESH_BUDGET_WINDOW = timedelta(seconds=61)


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


def missing_scopes(*, granted: Iterable[str], config: KlaviyoConfig) -> list[str]:
    """The scopes the product asks for (KLAVIYO_SCOPES) that Klaviyo did not grant."""
    granted = set(granted)
    return [scope for scope in config.scopes if scope not in granted]


def missing_scopes_reason(missing: Iterable[str]) -> str:
    """What an organizer reads about a connection lacking scopes (it names them)."""
    return (
        "Klaviyo did not grant Partyline every permission it needs (missing: "
        f"{', '.join(missing)}). Reconnect to grant them."
    )


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


def _still_valid(row: KlaviyoConnection, rejected: str | None) -> str | None:
    """The current token if Klaviyo still accepts it (not rejected, not expired)."""
    token = reveal(row.access_token)
    if token and token != rejected and not row.access_token_expires_within(0):
        return token
    return None


def _poll_delay(waited: float) -> float:
    """How long a waiter sleeps before re-reading the row, having waited `waited` seconds.

    About as long again as it has waited (so the first read after the refresh lands comes at
    most about twice the refresh's time after the wait began), jittered so a storm of waiters
    does not read in step, and capped.
    """
    base = min(max(waited, FIRST_POLL_SECONDS), MAX_POLL_SECONDS)
    return base * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)


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
            holder = secrets.token_hex(16)
            if _claim_lease(connection_id, holder=holder, seconds=lease):
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
            listening = listening or _listen(connection_id)
            token = _wait_for_refresher(
                connection_id,
                rejected=rejected,
                started=started,
                deadline=deadline,
                listening=listening,
                sleep=sleep,
            )
            if token:
                return token
    finally:
        if listening:
            _unlisten(connection_id)


def _wait_for_refresher(
    connection_id: int,
    *,
    rejected: str | None,
    started: float,
    deadline: float,
    listening: bool,
    sleep: Callable[[float], None],
) -> str | None:
    """Wait while someone else holds the lease: the token they saved, or None when the lease
    is free again without one (their refresh failed or their lease expired: claim it).

    After waking, the row is read before the lease is claimed again, so a storm of waiters
    takes its new token with one read each instead of each taking and releasing the lease.
    """
    while True:
        row = KlaviyoConnection.objects.get(pk=connection_id)
        _ensure_usable(row)
        if _is_fresh(row, rejected):
            return reveal(row.access_token)
        if row.refresh_lease_expires_at is None or row.refresh_lease_expires_at < timezone.now():
            return None
        if time.monotonic() > deadline:
            raise KlaviyoUnavailable(detail="Timed out waiting for another token refresh.")
        delay = _poll_delay(time.monotonic() - started)
        if listening:
            _wait_for_notification(delay)
        else:
            sleep(delay)


# --- Waking waiters (PostgreSQL LISTEN/NOTIFY) ----------------------------------------------


def _channel(connection_id: int) -> str:
    return f"klaviyo_token_{connection_id}"


def _listen(connection_id: int) -> bool:
    """Have this thread's database connection notified of the connection's saved refreshes;
    whether it is. Not on SQLite, nor inside a transaction, where PostgreSQL would deliver
    notifications only after it ends: such a waiter polls."""
    if database.vendor != "postgresql" or database.in_atomic_block:
        return False
    with database.cursor() as cursor:
        cursor.execute(f'LISTEN "{_channel(connection_id)}"')
    return True


def _unlisten(connection_id: int) -> None:
    # The database connection outlives this call (CONN_MAX_AGE): stop its notifications. A
    # connection that broke meanwhile has no subscription left, and its error is the one the
    # caller must see, not this one's.
    with contextlib.suppress(DatabaseError), database.cursor() as cursor:
        cursor.execute(f'UNLISTEN "{_channel(connection_id)}"')


def _wait_for_notification(seconds: float) -> None:
    """Until a notification arrives (or had arrived during our last query) or `seconds` pass.

    Any notification wakes the waiter, which then reads the row: an old one left over from an
    earlier wait on this database connection costs one read, never a wrong token.
    """
    for _ in database.connection.notifies(timeout=seconds, stop_after=1):
        break


def _notify_refreshed(connection_id: int) -> None:
    """Wake the connection's waiters; sent inside the transaction saving the new token, so
    PostgreSQL delivers it when the token is there to be read."""
    if database.vendor == "postgresql":
        with database.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [_channel(connection_id)])


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


def _extend_lease(connection_id: int, *, holder: str, seconds: float) -> None:
    KlaviyoConnection.objects.filter(pk=connection_id, refresh_lease_holder=holder).update(
        refresh_lease_expires_at=timezone.now() + timedelta(seconds=seconds)
    )


def _release_lease(connection_id: int, *, holder: str) -> None:
    KlaviyoConnection.objects.filter(pk=connection_id, refresh_lease_holder=holder).update(
        refresh_lease_holder="", refresh_lease_expires_at=None
    )


# --- The refresh budget ---------------------------------------------------------------------


def _take_refresh_slot(connection_id: int) -> float:
    """Take one of the connection's refresh slots: 0.0 when taken, else the seconds until the
    oldest one frees up.

    The slot used longest ago is taken only if that use is older than the window, by a
    conditional UPDATE on its previous `used_at`: whoever loses a race looks again.
    """
    slots = RefreshSlot.objects.filter(connection_id=connection_id, number__lt=REFRESH_BUDGET)
    while True:
        now = timezone.now()
        oldest = slots.order_by(F("used_at").asc(nulls_first=True), "number").first()
        if oldest is None or (oldest.used_at is not None and slots.count() < REFRESH_BUDGET):
            RefreshSlot.objects.bulk_create(
                [
                    RefreshSlot(connection_id=connection_id, number=number)
                    for number in range(REFRESH_BUDGET)
                ],
                ignore_conflicts=True,
            )
            continue
        if oldest.used_at is not None and oldest.used_at > now - REFRESH_BUDGET_WINDOW:
            return (oldest.used_at + REFRESH_BUDGET_WINDOW - now).total_seconds()
        if slots.filter(pk=oldest.pk, used_at=oldest.used_at).update(used_at=now):
            return 0.0


def _wait_for_refresh_slot(
    connection_id: int,
    *,
    holder: str,
    rejected: str | None,
    config: KlaviyoConfig,
    sleep: Callable[[float], None],
) -> str | None:
    """Take a refresh slot, waiting for one (still holding the lease) while all are in use.

    Returns None once a slot is taken, or the current token when it is still valid and was
    not rejected: then nobody needs to wait (a later call refreshes).
    """
    waited = 0.0
    while (wait := _take_refresh_slot(connection_id)) > 0:
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
        _extend_lease(connection_id, holder=holder, seconds=wait + lease_seconds(config))
        logger.info(
            "Klaviyo connection %s used its %d refreshes of the last minute; waiting %.1f s",
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
    if _is_fresh(row, rejected):
        _release_lease(connection_id, holder=holder)
        return reveal(row.access_token)
    refresh_token = reveal(row.refresh_token)
    if not refresh_token:
        _release_lease(connection_id, holder=holder)
        mark_needs_reconnect(connection=row, reason="No refresh token is stored.")
        raise ConnectionUnusable(KlaviyoConnection.objects.get(pk=connection_id))

    try:
        usable = _wait_for_refresh_slot(
            connection_id, holder=holder, rejected=rejected, config=config, sleep=sleep
        )
    except Exception:
        _release_lease(connection_id, holder=holder)
        raise
    if usable is not None:
        _release_lease(connection_id, holder=holder)
        return usable

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
    # A refresh that does not restate the scopes keeps the granted ones (RFC 6749 section 5.1).
    missing = missing_scopes(granted=response.scopes or row.scopes, config=config)
    drift = missing_scopes_reason(missing) if missing else ""
    with transaction.atomic():
        updates = {
            "access_token": response.access_token,
            "access_token_expires_at": now + timedelta(seconds=response.expires_in),
            "last_refreshed_at": now,
            "last_error": drift,
            "last_error_at": now if drift else None,
            "refresh_lease_holder": "",
            "refresh_lease_expires_at": None,
        }
        if drift:
            updates["status"] = ConnectionStatus.NEEDS_RECONNECT
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
                reason=reason[:255],
            )
            _notify_refreshed(connection_id)
            if drift:
                _needs_reconnect_recorded(row, reason=drift)
    if not saved:
        logger.info("Connection %s was disconnected during its refresh", connection_id)
        raise ConnectionUnusable(KlaviyoConnection.objects.get(pk=connection_id))
    if drift:
        logger.warning("Klaviyo connection %s needs reconnecting: %s", connection_id, drift)
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
    """The connection's refresh token is dead: work pauses until someone reconnects.

    Only the call whose conditional UPDATE turned the connection from active records the
    event and queues the owners' and admins' email: one per incident, however many callers
    hit the failure at once.
    """
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
            _needs_reconnect_recorded(connection, reason=reason)
    if changed:
        logger.warning("Klaviyo connection %s needs reconnecting: %s", connection.pk, reason)


def _needs_reconnect_recorded(connection: KlaviyoConnection, *, reason: str) -> None:
    """The audit event and the email of a connection that just turned needs-reconnect (inside
    the transaction of the UPDATE that turned it)."""
    ConnectionEvent.objects.create(
        organization_id=connection.organization_id,
        connection_id=connection.pk,
        kind=EventKind.NEEDS_RECONNECT,
        reason=reason[:255],
    )
    notifications.connection_health_notify(
        connection_id=connection.pk, kind=notifications.NEEDS_RECONNECT
    )
