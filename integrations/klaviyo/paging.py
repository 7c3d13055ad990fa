"""Reading collections: following Klaviyo's cursor links page by page, and putting ids into
paths safely. Shared by every group of `KlaviyoClient` operations."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from integrations.klaviyo.errors import KlaviyoError
from integrations.klaviyo.records import JSONDict, primary_resources
from integrations.klaviyo.transport import Transport


def paginate(
    transport: Transport,
    path: str,
    *,
    operation: str = "",
    params: Mapping[str, Any] | None = None,
) -> Iterator[JSONDict]:
    """Every resource of a collection, following `links.next` (an absolute URL carrying the
    cursor and the original query) until it is null. Each page is one call of `operation`
    (Klaviyo's operationId, for pacing)."""
    url: str | None = path
    page_params = params
    seen: set[str] = set()
    while url:
        seen.add(url)
        document = transport.request("GET", url, operation=operation, params=page_params)
        yield from primary_resources(document)
        links = (document or {}).get("links")
        following = links.get("next") if isinstance(links, dict) else None
        url = following if isinstance(following, str) and following else None
        if url in seen:
            raise KlaviyoError(detail="Pagination returned a page already read.")
        page_params = None


def segment(value: str) -> str:
    """An id as one path segment. Ids come from Klaviyo, but quoting keeps a stray "/" or "?"
    from changing the endpoint."""
    return quote(value, safe="")
