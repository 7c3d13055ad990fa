"""Connect attempts: the OAuth state and PKCE verifier of one "Connect Klaviyo" click, bound to
the browser and user that started it, single-use, expiring (DESIGN "The connection
lifecycle", steps 1 and 2). What a completed attempt does to a connection is
`integrations.services.connection_complete`.
"""

from __future__ import annotations

import hmac

from django.utils import timezone

from accounts.models import Membership, User
from integrations.fields import reveal
from integrations.klaviyo import oauth, pkce
from integrations.klaviyo.config import KlaviyoConfig, klaviyo_config
from integrations.models import KlaviyoConnection, OAuthState
from integrations.scopes import connect_config


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


def attempts_purge_expired() -> int:
    deleted, _ = OAuthState.objects.expired().delete()
    return deleted


def attempt_prepare(
    *,
    membership: Membership,
    redirect_uri: str,
    browser_nonce: str = "",
    label: str = "",
    reconnect: KlaviyoConnection | None = None,
) -> OAuthState:
    """Record a connect attempt: random state, fresh PKCE verifier, ten-minute life.

    An attempt prepared without a browser nonce (JSON API with a bearer token) must be bound
    to a browser with `attempt_bind` before it can complete.
    """
    attempts_purge_expired()
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
    """Klaviyo's consent page for the attempt, asking for the scopes of its organization."""
    config = connect_config(organization=attempt.organization, config=config or klaviyo_config())
    return oauth.build_authorize_url(
        config=config,
        state=attempt.state,
        code_challenge=pkce.code_challenge(reveal(attempt.code_verifier)),
        redirect_uri=attempt.redirect_uri,
        account_hint=attempt.reconnect.klaviyo_account_id if attempt.reconnect else "",
    )


def attempt_start(
    *,
    membership: Membership,
    redirect_uri: str,
    browser_nonce: str,
    label: str = "",
    reconnect: KlaviyoConnection | None = None,
    config: KlaviyoConfig | None = None,
) -> str:
    """Record a connect attempt bound to this browser and return Klaviyo's authorize URL."""
    attempt = attempt_prepare(
        membership=membership,
        redirect_uri=redirect_uri,
        browser_nonce=browser_nonce,
        label=label,
        reconnect=reconnect,
    )
    return authorize_url_for(attempt=attempt, config=config)


def attempt_bind(
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


def attempt_consume(*, state_value: str, user: User, browser_nonce: str | None) -> OAuthState:
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
