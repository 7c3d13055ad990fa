"""Klaviyo's rate limits, as data: each operation's burst, steady and daily budget.

The numbers are the `x-klaviyo-ratelimit` of each operation in Klaviyo's OpenAPI spec
(revision 2026-07-15, vendored in `klaviyo_sandbox/openapi/`); a test compares this table with
those files, so it cannot drift. Klaviyo counts each operation per account, in windows of a
second (burst), a minute (steady) and, for a few operations, a day, and answers 429 with
Retry-After beyond them.

The client keeps no count itself: before each request it asks a `RateBudget` (the pacing
store, implemented outside this package on shared storage, so every process calling one
Klaviyo account counts in the same windows) how long to wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

SECOND = 1
MINUTE = 60
DAY = 86_400


@dataclass(frozen=True)
class RateLimit:
    """Calls allowed per second (burst), per minute (steady) and, if Klaviyo sets one, per
    day, to one operation in one account."""

    burst: int
    steady: int
    daily: int | None = None

    @property
    def windows(self) -> tuple[tuple[int, int], ...]:
        """(window length in seconds, calls allowed in it), shortest first."""
        windows = ((SECOND, self.burst), (MINUTE, self.steady))
        return windows if self.daily is None else (*windows, (DAY, self.daily))


# Every operation the client calls, by Klaviyo's operationId.
RATE_LIMITS: dict[str, RateLimit] = {
    "get_accounts": RateLimit(burst=1, steady=15),
    "get_lists": RateLimit(burst=75, steady=750),
    "create_list": RateLimit(burst=10, steady=150, daily=150),
    "update_list": RateLimit(burst=10, steady=150),
    "delete_list": RateLimit(burst=10, steady=150),
    "remove_profiles_from_list": RateLimit(burst=10, steady=150),
    "get_profiles_for_list": RateLimit(burst=75, steady=750),
    "get_profiles": RateLimit(burst=75, steady=750),
    "bulk_import_profiles": RateLimit(burst=10, steady=150),
    "get_bulk_import_profiles_job": RateLimit(burst=10, steady=150),
    "get_errors_for_bulk_import_profiles_job": RateLimit(burst=10, steady=150),
    "bulk_subscribe_profiles": RateLimit(burst=75, steady=750),
    "create_event": RateLimit(burst=350, steady=3500),
    "bulk_create_events": RateLimit(burst=10, steady=150),
    "get_events": RateLimit(burst=350, steady=3500),
    "get_metrics": RateLimit(burst=10, steady=150),
    "query_metric_aggregates": RateLimit(burst=3, steady=60),
    "get_flows_triggered_by_metric": RateLimit(burst=10, steady=150),
    "get_flow": RateLimit(burst=3, steady=60),
    "request_profile_deletion": RateLimit(burst=3, steady=60),
}


class RateBudget(Protocol):
    """Where a client learns whether it may call Klaviyo now (the pacing store)."""

    def acquire(self, operation: str, account_id: str) -> float:
        """Count one call of `operation` to the account and return 0 when every window of
        its budget has room; otherwise count nothing and return the seconds until the
        fullest window opens again."""
        ...
