"""What the layers above tell integrations about the work they send through a connection.

Integrations sits below the pipelines that use a connection (the parties' attendee sync, and
any outbox that follows), so it never imports them: each pipeline registers itself here when
its app is ready, and the connection pages and the admin ask the registry. A new pipeline
shows in a connection's health and in the operator's "waiting" count by registering one
`Pipeline`, with no change here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet


@dataclass(frozen=True)
class ConnectionTrouble:
    """Klaviyo failing (`unreachable`) or slowing down (rate limits) one pipeline's work on a
    connection, as that pipeline recorded it."""

    connection_id: int
    unreachable: bool
    since: datetime | None = None
    next_try: datetime | None = None


@dataclass(frozen=True)
class Pipeline:
    """One kind of work sent to Klaviyo through a connection.

    - `waiting`: its items still on their way (a queryset), and `connection_path`, the lookup
      from an item to its connection's pk (`"party__connection"`);
    - `troubles`: for the given connections (pk -> their last successful call), what Klaviyo
      is doing to this pipeline's work now.
    """

    name: str
    waiting: Callable[[], QuerySet[Any]]
    connection_path: str
    troubles: Callable[[Mapping[int, datetime | None], datetime], Iterable[ConnectionTrouble]]


_registry: dict[str, Pipeline] = {}


def pipeline_register(pipeline: Pipeline) -> None:
    """Called from an app's `ready()`; registering the same name again replaces it."""
    _registry[pipeline.name] = pipeline


def pipelines() -> list[Pipeline]:
    return list(_registry.values())
