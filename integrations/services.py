"""Klaviyo connection lifecycle: start, complete, disconnect. Every status change and its
audit event happen here (or in integrations.tokens for refreshes)."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Membership, User
from integrations import notifications
from integrations.budgets import DatabaseRateBudget
from integrations.fields import reveal
from integrations.klaviyo import oauth, pkce
from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.config import KlaviyoConfig, klaviyo_config
from integrations.klaviyo.errors import KlaviyoError
from integrations.klaviyo.ratelimits import RateBudget
from integrations.klaviyo.records import Account
from integrations.models import (
    ConnectionEvent,
    ConnectionStatus,
    EventKind,
    KlaviyoConnection,
    OAuthState,
)
from integrations.signals import connection_activated
from integrations.tokens import ConnectionTokenSource, missing_scopes, missing_scopes_reason

logger = logging.getLogger(__name__)


class ConnectAttemptInvalid(Exception):
    """The callback's state is unknown, used, expired, or from another session or user."""

    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    OTHER_SESSION = "other_session"
    MISSING_CODE = "missing_code"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectDeclined(Exception):
    """The person clicked Deny on Klaviyo's consent page."""


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


def klaviyo_client(
    *,
    connection: KlaviyoConnection,
    config: KlaviyoConfig | None = None,
    budget: RateBudget | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> KlaviyoClient:
    """The Klaviyo API client for a connection, with tokens from integrations.tokens, paced
    under its Klaviyo account's rate limits (integrations.budgets), which every connection
    to that account shares. Tests may pass their own `budget` and `sleep`."""
    return KlaviyoClient(
        token_source=ConnectionTokenSource(connection, config),
        config=config,
        sleep=sleep,
        budget=budget or DatabaseRateBudget(),
        account_id=connection.klaviyo_account_id,
    )


def oauth_state_purge_expired() -> int:
    deleted, _ = OAuthState.objects.expired().delete()
    return deleted


def connection_prepare(
    *,
    membership: Membership,
    redirect_uri: str,
    browser_nonce: str = "",
    label: str = "",
    reconnect: KlaviyoConnection | None = None,
) -> OAuthState:
    """Record a connect attempt: random state, fresh PKCE verifier, ten-minute life.

    An attempt prepared without a browser nonce (JSON API with a bearer token) must be bound
    to a browser with `connection_bind` before it can complete.
    """
    oauth_state_purge_expired()
    return OAuthState.objects.create(
        state=pkce.generate_state(),
        code_verifier=pkce.generate_code_verifier(),
        browser_nonce=browser_nonce,
        user=membership.user,
        organization=membership.organization,
        label=reconnect.label if reconnect else label.strip(),
        reconnect=reconnect,
        redirect_uri=redirect_uri,
        expires_at=timezone.now() + OAuthState.LIFETIME,
    )


def authorize_url_for(*, attempt: OAuthState, config: KlaviyoConfig | None = None) -> str:
    return oauth.build_authorize_url(
        config=config or klaviyo_config(),
        state=attempt.state,
        code_challenge=pkce.code_challenge(reveal(attempt.code_verifier)),
        redirect_uri=attempt.redirect_uri,
        account_hint=attempt.reconnect.klaviyo_account_id if attempt.reconnect_id else "",
    )


def connection_start(
    *,
    membership: Membership,
    redirect_uri: str,
    browser_nonce: str,
    label: str = "",
    reconnect: KlaviyoConnection | None = None,
    config: KlaviyoConfig | None = None,
) -> str:
    """Record a connect attempt bound to this browser and return Klaviyo's authorize URL."""
    attempt = connection_prepare(
        membership=membership,
        redirect_uri=redirect_uri,
        browser_nonce=browser_nonce,
        label=label,
        reconnect=reconnect,
    )
    return authorize_url_for(attempt=attempt, config=config)


def connection_bind(
    *, state_value: str, user: User, browser_nonce: str, config: KlaviyoConfig | None = None
) -> str:
    """Bind an unbound attempt to the browser of the user who prepared it (once)."""
    if not pkce.is_well_formed_state(state_value):
        raise ConnectAttemptInvalid(ConnectAttemptInvalid.UNKNOWN)
    bound = OAuthState.objects.filter(
        state=state_value,
        user=user,
        browser_nonce="",
        used_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).update(browser_nonce=browser_nonce)
    if not bound:
        raise ConnectAttemptInvalid(ConnectAttemptInvalid.UNKNOWN)
    return authorize_url_for(attempt=OAuthState.objects.get(state=state_value), config=config)


def _consume_state(*, state_value: str, user: User, browser_nonce: str | None) -> OAuthState:
    """Check the state belongs to this user and browser session, then use it up (once)."""
    attempt = (
        OAuthState.objects.select_related("organization", "reconnect", "user")
        .filter(state=state_value)
        .first()
        if pkce.is_well_formed_state(state_value)
        else None
    )
    if attempt is None:
        raise ConnectAttemptInvalid(ConnectAttemptInvalid.UNKNOWN)
    same_session = bool(browser_nonce) and hmac.compare_digest(
        attempt.browser_nonce.encode(), (browser_nonce or "").encode()
    )
    if attempt.user_id != user.pk or not same_session:
        raise ConnectAttemptInvalid(ConnectAttemptInvalid.OTHER_SESSION)
    if attempt.used_at is not None:
        raise ConnectAttemptInvalid(ConnectAttemptInvalid.USED)
    if attempt.is_expired:
        raise ConnectAttemptInvalid(ConnectAttemptInvalid.EXPIRED)
    # One conditional UPDATE makes the state single-use even with two callbacks racing.
    used = OAuthState.objects.filter(pk=attempt.pk, used_at__isnull=True).update(
        used_at=timezone.now()
    )
    if not used:
        raise ConnectAttemptInvalid(ConnectAttemptInvalid.USED)
    return attempt


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
    config = config or klaviyo_config()
    attempt = _consume_state(state_value=state_value, user=user, browser_nonce=browser_nonce)
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

    Granted fewer scopes than the product needs, the connection is saved needs-reconnect with
    a reason naming them. Leaving or entering needs-reconnect queues the owners' and admins'
    email, from inside this transaction (the row is locked, so once per incident).
    """
    now = timezone.now()
    scopes = list(tokens.scopes or config.scopes)
    missing = missing_scopes(granted=scopes, config=config)
    drift = missing_scopes_reason(missing) if missing else ""

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
