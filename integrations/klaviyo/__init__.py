"""The Klaviyo client, HTTP only: configuration, OAuth 2.0 + PKCE, and the REST API.

Nothing here touches the database or a request; `integrations.tokens` and the services are the
only callers.
"""

from integrations.klaviyo.client import (
    MAX_BULK_IMPORT_BATCH,
    MAX_PAGE_SIZE,
    MAX_SUBSCRIBE_BATCH,
    KlaviyoClient,
    TokenSource,
    bulk_import_body,
    create_list_body,
    email_filter,
    profile_import_body,
    subscribe_body,
    update_list_body,
)
from integrations.klaviyo.config import KlaviyoConfig, klaviyo_config
from integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoConflict,
    KlaviyoError,
    KlaviyoInvalidClient,
    KlaviyoInvalidGrant,
    KlaviyoNotFound,
    KlaviyoOAuthError,
    KlaviyoPermissionDenied,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
    KlaviyoValidationError,
)
from integrations.klaviyo.oauth import (
    TokenResponse,
    build_authorize_url,
    exchange_code,
    refresh,
    revoke,
)
from integrations.klaviyo.pkce import code_challenge, generate_code_verifier, generate_state

__all__ = [
    "MAX_BULK_IMPORT_BATCH",
    "MAX_PAGE_SIZE",
    "MAX_SUBSCRIBE_BATCH",
    "KlaviyoAuthError",
    "KlaviyoClient",
    "KlaviyoConfig",
    "KlaviyoConflict",
    "KlaviyoError",
    "KlaviyoInvalidClient",
    "KlaviyoInvalidGrant",
    "KlaviyoNotFound",
    "KlaviyoOAuthError",
    "KlaviyoPermissionDenied",
    "KlaviyoRateLimited",
    "KlaviyoUnavailable",
    "KlaviyoValidationError",
    "TokenResponse",
    "TokenSource",
    "build_authorize_url",
    "bulk_import_body",
    "code_challenge",
    "create_list_body",
    "email_filter",
    "exchange_code",
    "generate_code_verifier",
    "generate_state",
    "klaviyo_config",
    "profile_import_body",
    "refresh",
    "revoke",
    "subscribe_body",
    "update_list_body",
]
