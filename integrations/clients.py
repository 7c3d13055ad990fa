"""The Klaviyo client for a connection: tokens from the door in `integrations.tokens`, calls
paced under its Klaviyo account's shared rate budget. Every pipeline's worker builds its
client here."""

from __future__ import annotations

import time
from collections.abc import Callable

from integrations import tokens
from integrations.budgets import DatabaseRateBudget
from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.config import KlaviyoConfig
from integrations.klaviyo.ratelimits import RateBudget
from integrations.models import KlaviyoConnection


class ConnectionTokenSource:
    """Adapts a connection to the Klaviyo client's TokenSource protocol."""

    def __init__(self, connection: KlaviyoConnection, config: KlaviyoConfig | None = None) -> None:
        self.connection = connection
        self.config = config

    def access_token(self) -> str:
        return tokens.get_access_token(connection=self.connection, config=self.config)

    def refreshed_access_token(self, *, rejected: str) -> str:
        return tokens.get_refreshed_access_token(
            connection=self.connection, rejected=rejected, config=self.config
        )


def klaviyo_client(
    *,
    connection: KlaviyoConnection,
    config: KlaviyoConfig | None = None,
    budget: RateBudget | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> KlaviyoClient:
    """The Klaviyo API client for a connection, paced under its Klaviyo account's rate limits
    (integrations.budgets), which every connection to that account shares. Tests may pass
    their own `budget` and `sleep`."""
    return KlaviyoClient(
        token_source=ConnectionTokenSource(connection, config),
        config=config,
        sleep=sleep,
        budget=budget or DatabaseRateBudget(),
        account_id=connection.klaviyo_account_id,
    )
