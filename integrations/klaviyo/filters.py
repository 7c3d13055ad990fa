"""Klaviyo's `filter` query parameter: quoting, `equals`, `any`, date-time comparisons and
`and`, and the byte budget of the request lines that carry a filter over many values.

A filter rides in the query string, so a filter over 100 addresses makes a long request line,
and servers and proxies refuse a line past a limit of their own with a 414 that no retry can
fix (gunicorn's default `limit_request_line` is 4,094 bytes; proxies commonly cap between 4
and 8 KB; Klaviyo documents none). Every filtered read over several values is therefore cut
by bytes, not by a count of values: `filtered_queries` splits the values so that each request
line stays within `MAX_REQUEST_LINE_BYTES`, whatever their length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import requests

# The longest request line a filtered read may send (method, path with its encoded query,
# " HTTP/1.1"): under the smallest limit met in practice (4,094), with room for a proxy that
# rewrites the path.
MAX_REQUEST_LINE_BYTES = 3500


def quoted(value: str) -> str:
    """A filter string literal with backslashes and double quotes escaped, so a value cannot
    close the string and add filter clauses of its own."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def equals(field: str, value: str) -> str:
    """`equals(field,"value")`."""
    return f"equals({field},{quoted(value)})"


def any_of(field: str, values: Sequence[str]) -> str:
    """`any(field,["...","..."])`."""
    if not values:
        raise ValueError("An `any` filter needs at least one value.")
    return f"any({field},[{','.join(quoted(value) for value in values)}])"


def compare(operator: str, field: str, moment: datetime) -> str:
    """`greater-or-equal(datetime,2026-07-20T10:00:00+00:00)`: a date-time is bare, not quoted
    (Klaviyo's filter syntax, as its SDK's FilterBuilder writes it), and needs a zone."""
    if moment.tzinfo is None:
        raise ValueError("A date-time filter needs a time zone.")
    return f"{operator}({field},{moment.isoformat()})"


def all_of(*terms: str) -> str:
    """`and(term,term,...)`; a single term stands alone."""
    return terms[0] if len(terms) == 1 else f"and({','.join(terms)})"


def request_line_bytes(method: str, url: str, params: Mapping[str, Any]) -> int:
    """The size of the request line `requests` sends for this call: the query is encoded
    exactly as the call will encode it."""
    prepared = requests.Request(method, url, params=dict(params)).prepare()
    return len(f"{method} {prepared.path_url} HTTP/1.1".encode())


def filtered_queries(
    method: str,
    url: str,
    *,
    values: Sequence[str],
    filter_for: Callable[[Sequence[str]], str],
    params: Mapping[str, Any],
    max_values: int,
) -> Iterator[dict[str, Any]]:
    """The query parameters of as few requests as read every one of `values`: `params` plus a
    `filter` built by `filter_for` over a slice of the values, each slice at most `max_values`
    long and each request line at most MAX_REQUEST_LINE_BYTES.

    Values keep their order. One value too long to fit even alone goes in a request of its
    own: the server may refuse it (`KlaviyoRequestRejected`), and no other value waits on it.
    """

    def query(batch: Sequence[str]) -> dict[str, Any]:
        return {**params, "filter": filter_for(batch)}

    batch: list[str] = []
    for value in values:
        candidate = [*batch, value]
        if batch and (
            len(candidate) > max_values
            or request_line_bytes(method, url, query(candidate)) > MAX_REQUEST_LINE_BYTES
        ):
            yield query(batch)
            candidate = [value]
        batch = candidate
    if batch:
        yield query(batch)
