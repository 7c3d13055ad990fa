"""The parts every outbox is built from: rows waiting to be sent, claimed in batches by any
number of workers, sent through a gate that paces writes.

An outbox is a table whose rows carry a state; a worker claims a batch of rows in the
waiting state (`claim_batch`), sends them, and moves them on. The attendee sync and the
events outbox both use these parts, with the lease (`core.leases`), the backoff
(`core.backoff`) and the per-account rate budget (`integrations.budgets`).

The window rule every outbox keeps: *while a rush lasts, at most one write per window
(`SendGate`); only a full batch may be followed at once by another*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone


def claim_batch(
    waiting: QuerySet[Any],
    *,
    size: int,
    state_field: str,
    waiting_state: str,
    claimed_state: str,
    updates: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Move up to `size` rows of `waiting` (oldest pk first) from `waiting_state` to
    `claimed_state` in one short transaction, writing `updates` too; their pks.

    The state filter of the read is the guard: a row another worker claimed (or that moved
    on) is never claimed twice. It holds because the read locks what it returns until the
    UPDATE commits: on PostgreSQL `SELECT ... FOR UPDATE SKIP LOCKED`, which also lets any
    number of workers drain one outbox side by side (rows another worker holds are skipped,
    not waited on); on SQLite the transaction takes the database's write lock first.
    """
    with transaction.atomic():
        rows = waiting.filter(**{state_field: waiting_state}).order_by("pk")
        if db_connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        ids = list(rows.values_list("pk", flat=True)[:size])
        if not ids:
            return []
        waiting.model._default_manager.filter(pk__in=ids).update(
            **{state_field: claimed_state, **(updates or {})}
        )
    return ids


@dataclass(frozen=True)
class SendGate:
    """The moment an outbox's owner row (a party, an account) may write again, kept in
    `field` of `model`: the coalescing window after a partial batch, Klaviyo's Retry-After,
    the backoff after an outage all move it."""

    model: type[Model]
    field: str

    def opens_at(self, pk: Any) -> datetime | None:
        rows = self.model._default_manager.filter(pk=pk)
        return rows.values_list(self.field, flat=True).first()

    def is_open(self, pk: Any, *, now: datetime | None = None) -> bool:
        opens_at = self.opens_at(pk)
        return opens_at is None or opens_at <= (now or timezone.now())

    def close_until(self, pk: Any, moment: datetime | None) -> None:
        """Hold writes back until `moment` (None: open now)."""
        self.model._default_manager.filter(pk=pk).update(**{self.field: moment})

    def close_for(self, pk: Any, seconds: float) -> datetime:
        moment = timezone.now() + timedelta(seconds=seconds)
        self.close_until(pk, moment)
        return moment


@dataclass(frozen=True)
class RunPlan:
    """When an outbox owner's next run is planned, kept in `field` of `model` (None: none),
    so a rush of rows plans one task, not one each.

    `request` says whether the caller should enqueue a run at `at`. Without `force` (a new
    row) nothing is planned while a run is: the first row of a rush plans one run and the
    next thousands stop at a plain read, without a write. With `force` (the engine's own
    follow-ups, retries, a reconnect, the sweep) the earliest time wins. Running early is
    harmless: the owner's `SendGate` holds back writes the window or a backoff forbids."""

    model: type[Model]
    field: str

    def request(self, pk: Any, *, at: datetime, force: bool = False) -> bool:
        now = timezone.now()
        planned = self.model._default_manager.filter(pk=pk)
        unplanned = Q(**{f"{self.field}__isnull": True})
        if force:
            # A plan whose time has come is spent: its task has started, or is about to (a
            # run that found the lease busy ends without clearing it), so it must not hold
            # back the next one. Two tasks due at once cost nothing: the lease lets one in.
            replaceable = (
                unplanned | Q(**{f"{self.field}__gt": at}) | Q(**{f"{self.field}__lte": now})
            )
            return bool(planned.filter(replaceable).update(**{self.field: at}))
        # A plain read first: during a rush almost every row stops here without a write.
        if planned.filter(~unplanned).exists():
            return False
        return bool(planned.filter(unplanned).update(**{self.field: at}))
