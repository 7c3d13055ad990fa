"""Klaviyo refuses a whole bulk request for one bad item, pointing at it (`source.pointer`):
send again without it, so one person's bad address never holds back everyone else's."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoError,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
)

Item = TypeVar("Item")

# Klaviyo could not take the request at all: nothing in it is at fault.
NOT_REFUSALS = (KlaviyoRateLimited, KlaviyoUnavailable, KlaviyoAuthError)


def indexed_by(pattern: re.Pattern[str]) -> Callable[[str | None, list[Item]], int | None]:
    """A `locate` for bodies that list the items in order: `pattern`'s first group is the
    item's index (`/profiles/data/3`)."""

    def locate(pointer: str | None, items: list[Item]) -> int | None:
        match = pattern.search(pointer or "")
        return int(match.group(1)) if match else None

    return locate


def send_without_refused(
    items: list[Item],
    send: Callable[[list[Item]], object],
    *,
    locate: Callable[[str | None, list[Item]], int | None],
    refused: Callable[[list[Item], KlaviyoError, bool], object],
) -> list[Item]:
    """Send `items`; when Klaviyo refuses the request pointing at one of them (`locate`
    reads its index among the items sent from the refusal's `source.pointer`), hand that
    one to `refused` and send the rest again. A refusal that names no item refuses them
    all. `refused`'s third argument says whether Klaviyo pointed at the item itself (its
    own data is at fault: sent again, it is refused again). The items Klaviyo accepted.

    Failures of the request itself (`NOT_REFUSALS`) are raised: the caller retries later."""
    remaining = list(items)
    while remaining:
        try:
            send(remaining)
            return remaining
        except NOT_REFUSALS:
            raise
        except KlaviyoError as error:
            index = locate(error.pointer, remaining)
            if index is None or not 0 <= index < len(remaining):
                refused(remaining, error, False)
                return []
            refused([remaining.pop(index)], error, True)
    return remaining
