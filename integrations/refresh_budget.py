"""Klaviyo's refresh limit, held across processes: ten refreshes a minute per installation.

Klaviyo counts refreshes as it counts its other limits, in fixed one-minute windows; past the
tenth, no new access token is issued until the window passes. So the refreshes are one more
budget of the pacing store (`integrations.budgets.DatabaseRateBudget`, `RateWindow` rows),
counted per connection (each connection is one installation): every process, thread and
code path counts in the same windows, and a refresh counted near a window's end is counted in
the next one too, in case it reaches Klaviyo there.

The limit is not in `RATE_LIMITS`, which mirrors the REST operations of Klaviyo's OpenAPI spec;
the token endpoint is not one of them.
"""

from __future__ import annotations

from django.db.models import CharField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat

from integrations.budgets import DatabaseRateBudget
from integrations.klaviyo.ratelimits import MINUTE, RateLimit

REFRESH_OPERATION = "oauth_refresh"
REFRESH_LIMITS = {REFRESH_OPERATION: RateLimit(burst=10, steady=10)}
# Klaviyo's refresh limit per installation, per minute.
REFRESH_BUDGET = REFRESH_LIMITS[REFRESH_OPERATION].steady
# The budget's "account" of a connection's refreshes (Klaviyo's account ids have no colon).
ACCOUNT_PREFIX = "connection:"

# The one budget every refresh counts against (tests replace it to move its clock).
BUDGET = DatabaseRateBudget(limits=REFRESH_LIMITS)


def refresh_acquire(*, connection_id: int) -> float:
    """Count one refresh of the connection and return 0.0, or count nothing and return the
    seconds until Klaviyo's minute with room opens."""
    return BUDGET.acquire(REFRESH_OPERATION, f"{ACCOUNT_PREFIX}{connection_id}")


def refreshes_this_minute() -> Coalesce:
    """For annotating connections: the refreshes counted in Klaviyo's current minute window,
    as one subquery."""
    account = Concat(Value(ACCOUNT_PREFIX), Cast(OuterRef("pk"), CharField()))
    counted = BUDGET.open_windows(REFRESH_OPERATION, MINUTE).filter(account_id=account)
    return Coalesce(Subquery(counted.values("count")[:1]), 0)
