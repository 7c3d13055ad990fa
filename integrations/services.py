"""Klaviyo connection lifecycle: start, complete, refresh outcomes, disconnect.

Every status change of a connection and its audit events happen here, as the scope policy
(`integrations.scopes`) decides; `integrations.tokens` runs the refresh door and reports its
outcomes. Turning needs-reconnect queues one email to the organization's owners and admins
(`integrations.notifications`), from the conditional UPDATE that changed the status.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from integrations import notifications
from integrations.attempts import ConnectAttemptInvalid, ConnectDeclined, attempt_consume
from integrations.fields import reveal
from integrations.klaviyo import oauth
from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.config import KlaviyoConfig, klaviyo_config
from integrations.klaviyo.errors import KlaviyoError
from integrations.klaviyo.records import Account
from integrations.models import (
    ConnectionEvent,
    ConnectionStatus,
    EventKind,
    KlaviyoConnection,
    OAuthState,
)
from integrations.scopes import (
    connect_config,
    event_scopes_missing_from,
    list_missing_scopes,
    list_missing_scopes_reason,
)
from integrations.signals import connection_activated
from integrations.token_wakeup import notify_refreshed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectResult:
    connection: KlaviyoConnection
    reconnected: bool
    # The connection the attempt set out to reconnect: another one when the person chose a
    # different account on Klaviyo's page (that one is then left as it was).
    reconnect_requested: KlaviyoConnection | None = None


class StaticTokenSource:
    """A token source for the one call made before a connection row exists."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refreshed_access_token(self, *, rejected: str) -> str:
        return self._token


# --- Connecting ---------------------------------------------------------------------------------


def connection_complete(
    *,
    user: User,
    browser_nonce: str | None,
    state_value: str,
    code: str,
    error: str = "",
    config: KlaviyoConfig | None = None,
) -> ConnectResult:
    """Finish a connect attempt from Klaviyo's callback.

    Raises ConnectAttemptInvalid, ConnectDeclined, or a KlaviyoError from the token
    exchange (KlaviyoInvalidGrant, KlaviyoInvalidClient, KlaviyoUnavailable...).
    """
    attempt = attempt_consume(state_value=state_value, user=user, browser_nonce=browser_nonce)
    # The scopes asked are the organization's: a token answer that does not restate them
    # was granted those (RFC 6749 section 5.1).
    config = connect_config(organization=attempt.organization, config=config or klaviyo_config())
    if error:
        raise ConnectDeclined(error)
    if not code:
        raise ConnectAttemptInvalid(ConnectAttemptInvalid.MISSING_CODE)

    tokens = oauth.exchange_code(
        config=config,
        code=code,
        code_verifier=reveal(attempt.code_verifier),
        redirect_uri=attempt.redirect_uri,
    )
    account = KlaviyoClient(
        token_source=StaticTokenSource(tokens.access_token), config=config
    ).get_account()
    try:
        connection, reconnected = _connection_upsert(
            attempt=attempt, account=account, tokens=tokens, user=user, config=config
        )
    except IntegrityError:
        # Another callback for the same new account committed first: update that row.
        connection, reconnected = _connection_upsert(
            attempt=attempt, account=account, tokens=tokens, user=user, config=config
        )
    if connection.status == ConnectionStatus.ACTIVE:
        transaction.on_commit(
            lambda: connection_activated.send(sender=KlaviyoConnection, connection=connection)
        )
    logger.info(
        "Klaviyo account %s %s for organization %s",
        connection.klaviyo_account_id,
        "reconnected" if reconnected else "connected",
        attempt.organization_id,
    )
    return ConnectResult(
        connection=connection, reconnected=reconnected, reconnect_requested=attempt.reconnect
    )


def _connection_upsert(
    *,
    attempt: OAuthState,
    account: Account,
    tokens: oauth.TokenResponse,
    user: User,
    config: KlaviyoConfig,
) -> tuple[KlaviyoConnection, bool]:
    """Create or update the connection for (organization, Klaviyo account), in one transaction.

    Granted fewer list scopes than the product needs, the connection is saved needs-reconnect
    with a reason naming them; lacking only event scopes, it is saved active (its lifecycle
    events wait, `integrations.scopes`). Leaving or entering needs-reconnect queues the
    owners' and admins' email, from inside this transaction (the row is locked, so once per
    incident).
    """
    now = timezone.now()
    scopes = list(tokens.scopes or config.scopes)
    missing = list_missing_scopes(granted=scopes, config=config)
    drift = list_missing_scopes_reason(missing) if missing else ""

    with transaction.atomic():
        existing = (
            KlaviyoConnection.objects.select_for_update()
            .filter(organization=attempt.organization, klaviyo_account_id=account.id)
            .order_by("-updated_at")
            .first()
        )
        reconnected = existing is not None
        previous_status = existing.status if existing else None
        connection = existing or KlaviyoConnection(
            organization=attempt.organization, klaviyo_account_id=account.id
        )
        connection.public_api_key = account.public_api_key or account.id
        connection.klaviyo_organization_name = account.organization_name
        if attempt.label or not connection.label:
            connection.label = attempt.label
        connection.status = ConnectionStatus.NEEDS_RECONNECT if drift else ConnectionStatus.ACTIVE
        connection.scopes = scopes
        connection.access_token = tokens.access_token
        if tokens.refresh_token:
            connection.refresh_token = tokens.refresh_token
        connection.access_token_expires_at = now + timedelta(seconds=tokens.expires_in)
        connection.connected_by = user
        connection.connected_at = now
        connection.last_refreshed_at = now
        connection.last_successful_call_at = now
        connection.last_error = drift
        connection.last_error_at = now if drift else None
        connection.refresh_lease_holder = ""
        connection.refresh_lease_expires_at = None
        connection.save()
        ConnectionEvent.objects.create(
            organization=attempt.organization,
            connection=connection,
            kind=EventKind.RECONNECTED if reconnected else EventKind.CONNECTED,
            actor=user,
        )
        if drift:
            ConnectionEvent.objects.create(
                organization=attempt.organization,
                connection=connection,
                kind=EventKind.NEEDS_RECONNECT,
                reason=drift[:255],
            )
        was_broken = previous_status == ConnectionStatus.NEEDS_RECONNECT
        if drift and not was_broken:
            notifications.connection_health_notify(
                connection_id=connection.pk, kind=notifications.NEEDS_RECONNECT
            )
        elif was_broken and not drift:
            notifications.connection_health_notify(
                connection_id=connection.pk, kind=notifications.RECONNECTED
            )
    return connection, reconnected


def connection_disconnect(
    *, connection: KlaviyoConnection, actor: User | None, config: KlaviyoConfig | None = None
) -> bool:
    """Revoke at Klaviyo, then erase the tokens and mark the connection revoked.

    Returns whether Klaviyo confirmed the revoke. The tokens are erased either way: a
    connection someone asked to remove must not keep working from our side.
    """
    config = config or klaviyo_config()
    refresh_token = reveal(connection.refresh_token)
    revoke_error: KlaviyoError | None = None
    if refresh_token:
        try:
            oauth.revoke(config=config, token=refresh_token)
        except KlaviyoError as error:
            revoke_error = error
    with transaction.atomic():
        KlaviyoConnection.objects.filter(pk=connection.pk).update(
            status=ConnectionStatus.REVOKED,
            access_token=None,
            refresh_token=None,
            access_token_expires_at=None,
            refresh_lease_holder="",
            refresh_lease_expires_at=None,
            updated_at=timezone.now(),
        )
        ConnectionEvent.objects.create(
            organization_id=connection.organization_id,
            connection=connection,
            kind=EventKind.DISCONNECTED,
            actor=actor,
        )
        if revoke_error is not None:
            ConnectionEvent.objects.create(
                organization_id=connection.organization_id,
                connection=connection,
                kind=EventKind.REVOKE_FAILED,
                actor=actor,
                reason=f"{type(revoke_error).__name__}: {revoke_error}"[:255],
            )
    connection.refresh_from_db()
    if revoke_error is not None:
        logger.warning(
            "Revoking Klaviyo connection %s was not confirmed: %s", connection.pk, revoke_error
        )
    return revoke_error is None


def connection_record_success(*, connection: KlaviyoConnection) -> None:
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        last_successful_call_at=timezone.now()
    )


# --- Refresh outcomes ---------------------------------------------------------------------------


def connection_refresh_saved(
    *,
    connection: KlaviyoConnection,
    response: oauth.TokenResponse,
    config: KlaviyoConfig,
    reason: str = "",
) -> tuple[bool, str]:
    """Save the tokens a refresh just got, and what they mean: whether they were saved (not
    when the connection was disconnected during the call), and the scope drift that turned
    it needs-reconnect ("" when none).

    Saved whether or not the refresher still holds its lease (the tokens Klaviyo just issued
    are the newest, and with rotation the previous refresh token no longer works), but only
    while the connection is active: a disconnect during the call erased the tokens and they
    must stay erased. The waiters are woken from the same transaction. A refresh restating
    every event scope to a connection that lacked some sends `connection_activated`.
    """
    now = timezone.now()
    # A refresh that does not restate the scopes keeps the granted ones (RFC 6749 section 5.1).
    granted = response.scopes or connection.scopes
    missing = list_missing_scopes(granted=granted, config=config)
    drift = list_missing_scopes_reason(missing) if missing else ""
    # Klaviyo restates the scopes of the app's installation in the account, which a reconnect
    # from another organization may have widened: this connection's lifecycle events, waiting
    # for them, may go now.
    events_unblocked = bool(event_scopes_missing_from(connection.scopes)) and not (
        event_scopes_missing_from(granted)
    )
    updates: dict[str, Any] = {
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
    with transaction.atomic():
        saved = bool(
            KlaviyoConnection.objects.filter(
                pk=connection.pk, status=ConnectionStatus.ACTIVE
            ).update(**updates, updated_at=now)
        )
        if saved:
            ConnectionEvent.objects.create(
                organization_id=connection.organization_id,
                connection_id=connection.pk,
                kind=EventKind.REFRESHED,
                reason=reason[:255],
            )
            notify_refreshed(connection.pk)
            if drift:
                _needs_reconnect_recorded(connection, reason=drift)
            elif events_unblocked:
                transaction.on_commit(lambda: _activated_send(connection.pk))
    if saved and drift:
        logger.warning("Klaviyo connection %s needs reconnecting: %s", connection.pk, drift)
    return saved, drift


def _activated_send(connection_id: int) -> None:
    """`connection_activated` with the connection as saved (its new scopes), after commit."""
    connection = KlaviyoConnection.objects.filter(pk=connection_id).first()
    if connection is not None:
        connection_activated.send(sender=KlaviyoConnection, connection=connection)


def connection_refresh_failed(*, connection: KlaviyoConnection, error: Exception) -> None:
    """A refresh failed for a reason that may pass (Klaviyo down): recorded, status kept."""
    row = connection
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


def connection_mark_needs_reconnect(*, connection: KlaviyoConnection, reason: str) -> None:
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
