"""Watching a lease from a test."""

from __future__ import annotations

from typing import Any

from core.leases import Lease


class CountedLease:
    """The refresh lease, with each claim's outcome appended to `claims`."""

    def __init__(self, lease: Lease, claims: list[bool]) -> None:
        self.lease, self.claims = lease, claims

    def claim(self, *args: Any, **kwargs: Any) -> bool:
        self.claims.append(self.lease.claim(*args, **kwargs))
        return self.claims[-1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.lease, name)
