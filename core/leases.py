"""Leases on a database row: who may do a piece of work now, across threads and processes.

A lease is two columns on the row the work is about (a holder and an expiry). It is claimed
with one conditional UPDATE (free, or lapsed), renewed and released only by its holder, and
never held by a transaction or a row lock, so no connection stays pinned while the holder
calls a slow service. A holder that dies simply lets its lease lapse; `Heartbeat` renews a
live holder's lease from a thread however long one call takes.

The attendee sync leases its party; the token door leases its connection for a refresh.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import DatabaseError
from django.db import connections as db_connections
from django.db.models import Model, Q
from django.utils import timezone

logger = logging.getLogger(__name__)


def new_holder() -> str:
    """A name for one run's lease: unguessable, so no other run can renew or release it."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Lease:
    """The lease kept in `holder_field` and `expires_field` of `model`'s rows."""

    model: type[Model]
    holder_field: str
    expires_field: str

    def claim(
        self,
        pk: Any,
        *,
        holder: str,
        seconds: float,
        when: Q | None = None,
        also: dict[str, Any] | None = None,
    ) -> bool:
        """Take the row's lease unless a live one is held (and the row matches `when`),
        writing `also` in the same UPDATE: the guard that keeps two runs from doing one
        piece of work at once."""
        now = timezone.now()
        free = Q(**{f"{self.expires_field}__isnull": True}) | Q(
            **{f"{self.expires_field}__lt": now}
        )
        rows = self.model._default_manager.filter(pk=pk).filter(free)
        if when is not None:
            rows = rows.filter(when)
        return bool(
            rows.update(
                **{
                    self.holder_field: holder,
                    self.expires_field: now + timedelta(seconds=seconds),
                    **(also or {}),
                }
            )
        )

    def renew(self, pk: Any, *, holder: str, seconds: float) -> bool:
        """Push the expiry `seconds` ahead; False once the lease is no longer `holder`'s."""
        return bool(
            self._held(pk, holder).update(
                **{self.expires_field: timezone.now() + timedelta(seconds=seconds)}
            )
        )

    def release(self, pk: Any, *, holder: str) -> bool:
        """Give the lease back (only `holder` can); whether it was still held."""
        return bool(
            self._held(pk, holder).update(**{self.holder_field: "", self.expires_field: None})
        )

    def is_held_by(self, pk: Any, *, holder: str) -> bool:
        return self._held(pk, holder).exists()

    def _held(self, pk: Any, holder: str) -> Any:
        return self.model._default_manager.filter(pk=pk, **{self.holder_field: holder})


class Heartbeat:
    """Renews a lease from a background thread every third of `seconds` while the `with`
    block runs, so a slow call never lets a live holder's lease lapse, and a dead holder's
    lease lapses within `seconds`."""

    def __init__(self, lease: Lease, pk: Any, *, holder: str, seconds: float) -> None:
        self.lease, self.pk, self.holder, self.seconds = lease, pk, holder, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="lease-heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.seconds / 3):
                if not self.lease.renew(self.pk, holder=self.holder, seconds=self.seconds):
                    return  # taken over (the holder outlived its lease) or released
        except DatabaseError:
            logger.warning("Could not renew the lease of %s %s", self.lease.model.__name__, self.pk)
        finally:
            db_connections.close_all()  # this thread's own connection
