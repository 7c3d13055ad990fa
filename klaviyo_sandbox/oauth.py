"""The sandbox's OAuth 2.0 authorization server: every protocol decision in one module.

Behaves as Klaviyo documents (klaviyo-api-reference.md §1) and, where Klaviyo is silent, as
RFC 6749 (OAuth 2.0), RFC 7636 (PKCE) and RFC 7009 (revocation) say. Codes and tokens are
random strings stored only as SHA-256 hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from klaviyo_sandbox import clock, ratelimit
from klaviyo_sandbox.models import (
    Account,
    AuthorizationCode,
    Installation,
    Token,
    TokenKind,
)
from klaviyo_sandbox.routers import DATABASE

# The scopes the sandbox app is configured with in its (imaginary) Klaviyo app settings.
APP_NAME = "Partyline"
APP_SCOPES = (
    "accounts:read",
    "lists:read",
    "lists:write",
    "profiles:read",
    "profiles:write",
    "subscriptions:write",
    "events:read",
    "events:write",
    "metrics:read",
    "flows:read",
    "data-privacy:write",
)
SCOPE_DESCRIPTIONS = {
    "accounts:read": "See your account's name, address and settings",
    "lists:read": "See your lists",
    "lists:write": "Create, rename and delete lists",
    "profiles:read": "See profiles (names, email addresses, custom properties)",
    "profiles:write": "Create and update profiles",
    "subscriptions:write": "Subscribe profiles to email marketing",
    "events:read": "See the events recorded on profiles",
    "events:write": "Record events on profiles (and create their metrics)",
    "metrics:read": "See your metrics",
    "flows:read": "See your flows",
    "data-privacy:write": "Delete profiles from your account (data privacy requests)",
}
CODE_LIFETIME = timedelta(minutes=5)  # Klaviyo's authorization codes live 5 minutes
REFRESH_IDLE_LIMIT = timedelta(days=90)  # unused refresh tokens die after 90 days
REFRESH_LIMIT = ratelimit.Limit(count=10, window=60)  # at most 10 refreshes a minute
_CODE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url(SHA-256), unpadded
_CODE_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
DENIED_DESCRIPTION = "The resource owner or authorization server denied the request."


def secret_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))), without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def client_secret_for(client_id: str) -> str | None:
    return settings.SANDBOX_CLIENT_SECRET if client_id == settings.SANDBOX_CLIENT_ID else None


# --- Authorize --------------------------------------------------------------------------------


class AuthorizeError(Exception):
    """A bad authorize request: shown on an error page, never redirected (the URI is unverified
    or the request is malformed)."""


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    code_challenge: str
    code_challenge_method: str

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


def authorize_request_parse(params: Mapping[str, str]) -> AuthorizeRequest:
    """Validate every authorize parameter (§1.2), client and redirect URI first."""
    client_id = params.get("client_id", "")
    if client_secret_for(client_id) is None:
        raise AuthorizeError("Unknown client_id: no sandbox app has this client ID.")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in settings.SANDBOX_REDIRECT_URIS:
        raise AuthorizeError(
            "redirect_uri does not exactly match a redirect URL allowed for this app."
        )
    if params.get("response_type") != "code":
        raise AuthorizeError("response_type must be 'code'.")
    scopes = tuple(params.get("scope", "").split())
    if not scopes:
        raise AuthorizeError("scope is missing: ask for at least one scope.")
    unknown = [scope for scope in scopes if scope not in APP_SCOPES]
    if unknown:
        raise AuthorizeError(
            f"scope asks for scopes this app is not configured with: {', '.join(unknown)}."
        )
    state = params.get("state", "")
    if not state:
        raise AuthorizeError("state is missing.")
    if params.get("code_challenge_method") != "S256":
        raise AuthorizeError("code_challenge_method must be 'S256' (PKCE is required).")
    code_challenge = params.get("code_challenge", "")
    if not _CODE_CHALLENGE.match(code_challenge):
        raise AuthorizeError(
            "code_challenge must be the unpadded base64url SHA-256 of the code verifier."
        )
    return AuthorizeRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=tuple(dict.fromkeys(scopes)),
        state=state,
        code_challenge=code_challenge,
        code_challenge_method="S256",
    )


def authorization_code_issue(*, request: AuthorizeRequest, account: Account) -> str:
    """The user clicked Allow: a single-use code, valid for 5 minutes, bound to the request."""
    code = secrets.token_urlsafe(32)
    now = clock.now()
    AuthorizationCode.objects.using(DATABASE).create(
        code_hash=secret_hash(code),
        client_id=request.client_id,
        account=account,
        redirect_uri=request.redirect_uri,
        scopes=request.scope,
        code_challenge=request.code_challenge,
        code_challenge_method=request.code_challenge_method,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
    )
    return code


# --- Token endpoint ------------------------------------------------------------------------


@dataclass
class TokenError(Exception):
    """An RFC 6749 §5.2 error: `{"error": ..., "error_description": ...}`."""

    error: str
    description: str
    status: int = 400
    retry_after: int | None = None


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str
    installation: Installation

    def as_response(self) -> dict[str, str | int]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
        }


def client_authenticate(authorization: str) -> str:
    """HTTP Basic client authentication (the only kind Klaviyo documents); the client id."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise TokenError(
            "invalid_client", "Client authentication failed: use HTTP Basic.", status=401
        )
    try:
        client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise TokenError("invalid_client", "Malformed Basic credentials.", status=401) from None
    expected = client_secret_for(client_id)
    if expected is None or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise TokenError("invalid_client", "Client authentication failed.", status=401)
    return client_id


def tokens_issue(
    *,
    installation: Installation,
    scopes: str,
    code: AuthorizationCode | None,
    refresh_token: str | None = None,
) -> IssuedTokens:
    """A new access token, and a new refresh token unless one is being kept (no rotation)."""
    now = clock.now()
    lifetime = settings.SANDBOX_ACCESS_TOKEN_LIFETIME
    access = secrets.token_urlsafe(48)
    Token.objects.using(DATABASE).create(
        token_hash=secret_hash(access),
        kind=TokenKind.ACCESS,
        installation=installation,
        code=code,
        scopes=scopes,
        created_at=now,
        expires_at=now + timedelta(seconds=lifetime),
    )
    if refresh_token is None:
        refresh_token = secrets.token_urlsafe(48)
        Token.objects.using(DATABASE).create(
            token_hash=secret_hash(refresh_token),
            kind=TokenKind.REFRESH,
            installation=installation,
            code=code,
            scopes=scopes,
            created_at=now,
            last_used_at=now,
        )
    return IssuedTokens(access, refresh_token, lifetime, scopes, installation)


@transaction.atomic(using=DATABASE)
def installation_install(*, account: Account, client_id: str, scopes: str) -> Installation:
    """Install the app in the account, or update the scopes of the installation it has."""
    installation = (
        Installation.objects.using(DATABASE)
        .select_for_update()
        .filter(account=account, client_id=client_id, uninstalled_at__isnull=True)
        .first()
    )
    if installation is None:
        return Installation.objects.using(DATABASE).create(
            account=account, client_id=client_id, scopes=scopes, installed_at=clock.now()
        )
    installation.scopes = scopes
    installation.save(update_fields=["scopes"])
    return installation


def token_exchange_code(
    *, client_id: str, code: str, code_verifier: str, redirect_uri: str
) -> IssuedTokens:
    """grant_type=authorization_code (RFC 6749 §4.1.3 with RFC 7636 §4.6)."""
    if not code or not code_verifier or not redirect_uri:
        raise TokenError("invalid_request", "code, code_verifier and redirect_uri are required.")
    if not _CODE_VERIFIER.match(code_verifier):
        raise TokenError("invalid_request", 'Invalid "code_verifier".')
    now = clock.now()
    with transaction.atomic(using=DATABASE):
        grant = (
            AuthorizationCode.objects.using(DATABASE)
            .select_for_update()
            .select_related("account")
            .filter(code_hash=secret_hash(code), client_id=client_id)
            .first()
        )
        if grant is None:
            raise TokenError("invalid_grant", "The authorization code is invalid.")
        if grant.used_at is None:
            if grant.expires_at <= now:
                raise TokenError("invalid_grant", "The authorization code has expired.")
            if grant.redirect_uri != redirect_uri:
                raise TokenError(
                    "invalid_grant", "redirect_uri does not match the authorization request."
                )
            if not hmac.compare_digest(pkce_challenge(code_verifier), grant.code_challenge):
                raise TokenError("invalid_grant", "Code challenge failed.")
            grant.used_at = now
            grant.save(update_fields=["used_at"])
            installation = installation_install(
                account=grant.account, client_id=client_id, scopes=grant.scopes
            )
            return tokens_issue(installation=installation, scopes=grant.scopes, code=grant)
        # RFC 6749 §4.1.2: a replayed code SHOULD revoke the tokens it issued (committed
        # before the error is raised, which would otherwise roll it back).
        Token.objects.using(DATABASE).filter(code=grant, revoked_at__isnull=True).update(
            revoked_at=now
        )
    raise TokenError("invalid_grant", "The authorization code has already been used.")


def token_refresh(*, client_id: str, refresh_token: str) -> IssuedTokens:
    """grant_type=refresh_token (RFC 6749 §6), with Klaviyo's limits and optional rotation."""
    if not refresh_token:
        raise TokenError("invalid_request", "refresh_token is required.")
    now = clock.now()
    with transaction.atomic(using=DATABASE):
        # The row lock makes two concurrent refreshes with one rotating token end as Klaviyo's
        # would: one gets new tokens, the other invalid_grant.
        token = (
            Token.objects.using(DATABASE)
            .select_for_update()
            .select_related("installation")
            .filter(
                token_hash=secret_hash(refresh_token),
                kind=TokenKind.REFRESH,
                installation__client_id=client_id,
            )
            .first()
        )
        if token is None or token.revoked_at is not None or not token.installation.is_active:
            raise TokenError("invalid_grant", "The refresh token is invalid or was revoked.")
        if now - (token.last_used_at or token.created_at) > REFRESH_IDLE_LIMIT:
            raise TokenError("invalid_grant", "The refresh token expired after 90 days unused.")
        decision = ratelimit.hit(f"refresh:{token.installation_id}", [REFRESH_LIMIT], now)
        if not decision.allowed:
            # Klaviyo issues no new access token until the window passes; the ones already
            # issued keep working.
            raise TokenError(
                "throttled",
                "Too many refreshes: at most 10 a minute for one installation. Try again in "
                f"{decision.retry_after} second(s).",
                status=429,
                retry_after=decision.retry_after,
            )
        installation = token.installation
        if settings.SANDBOX_ROTATE_REFRESH_TOKENS:
            token.revoked_at = now
            token.save(update_fields=["revoked_at"])
            return tokens_issue(
                installation=installation, scopes=installation.scopes, code=token.code
            )
        token.last_used_at = now
        token.save(update_fields=["last_used_at"])
        return tokens_issue(
            installation=installation,
            scopes=installation.scopes,
            code=token.code,
            refresh_token=refresh_token,
        )


def token_revoke(*, client_id: str, token: str) -> None:
    """RFC 7009: revoke the token; unknown tokens are not an error. Revoking a refresh token
    uninstalls the app from the account (Klaviyo), which kills all its tokens."""
    if not token:
        raise TokenError("invalid_request", "token is required.")
    with transaction.atomic(using=DATABASE):
        found = (
            Token.objects.using(DATABASE)
            .select_related("installation")
            .filter(token_hash=secret_hash(token), installation__client_id=client_id)
            .first()
        )
        if found is None:
            return
        if found.kind == TokenKind.REFRESH:
            installation_uninstall(installation=found.installation)
        elif found.revoked_at is None:
            found.revoked_at = clock.now()
            found.save(update_fields=["revoked_at"])


# --- Installations and bearer tokens ------------------------------------------------------------


def installation_uninstall(*, installation: Installation) -> None:
    """Remove the app from the account: every token it holds stops working at once."""
    now = clock.now()
    with transaction.atomic(using=DATABASE):
        Token.objects.using(DATABASE).filter(
            installation=installation, revoked_at__isnull=True
        ).update(revoked_at=now)
        if installation.uninstalled_at is None:
            installation.uninstalled_at = now
            installation.save(update_fields=["uninstalled_at"])


def installation_expire_access_tokens(*, installation: Installation) -> int:
    """Make every live access token of the installation expire now (refresh tokens live on)."""
    now = clock.now()
    return (
        Token.objects.using(DATABASE)
        .filter(
            installation=installation,
            kind=TokenKind.ACCESS,
            revoked_at__isnull=True,
            expires_at__gt=now,
        )
        .update(expires_at=now)
    )


def access_token_authenticate(raw: str) -> Token | None:
    """The live access token for a Bearer value, with its installation and account."""
    token = (
        Token.objects.using(DATABASE)
        .select_related("installation__account")
        .filter(token_hash=secret_hash(raw), kind=TokenKind.ACCESS)
        .first()
    )
    if token is None or not token.is_live(clock.now()) or not token.installation.is_active:
        return None
    return token
