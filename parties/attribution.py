"""Where a signup comes from: the campaign of the link people followed (its `utm_source`,
`utm_medium` and `utm_campaign` parameters) and the site that sent them (its host only).

Read when the form is shown, never when it is posted: the public page reads its own query
string and the Referer header of its GET (a POST's Referer is our own page); the embedded form
gets them from embed.js in its frame's address. Both carry them through the form as hidden
fields. Anyone can write these values, so they are cleaned, never refused: printable text,
trimmed, cut to their column's length; a host that is not a host name is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import CharField
from django.http import HttpRequest

from parties.models import Attendee

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign")
FIELDS = (*UTM_FIELDS, "referrer_host")
# The embedded form's query parameter naming the site it is embedded in (embed.js sets it).
EMBEDDING_HOST_PARAM = "ref"
HOST = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")


def _max_length(name: str) -> int:
    column = Attendee._meta.get_field(name)
    return column.max_length if isinstance(column, CharField) and column.max_length else 0


def clean_text(value: object, *, max_length: int) -> str:
    """Printable text, whitespace runs made one space, trimmed, at most `max_length`."""
    if not isinstance(value, str):
        return ""
    printable = "".join(char if char.isprintable() else " " for char in value)
    return " ".join(printable.split())[:max_length]


def clean_host(value: object) -> str:
    """A host name, lower case, without port; "" for anything else (a URL's host is taken)."""
    if not isinstance(value, str):
        return ""
    text = value.strip().lower()
    if "/" in text:
        text = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    text = text.split(":")[0].rstrip(".")
    max_length = _max_length("referrer_host")
    return text if len(text) <= max_length and HOST.match(text) else ""


def clean(data: Mapping[str, Any]) -> dict[str, str]:
    """The four attribution values of `data`, cleaned ("" for those missing)."""
    cleaned = {
        name: clean_text(data.get(name), max_length=_max_length(name)) for name in UTM_FIELDS
    }
    cleaned["referrer_host"] = clean_host(data.get("referrer_host"))
    return cleaned


def referring_host(request: HttpRequest) -> str:
    """The host of the request's Referer, unless it is our own (a visitor moving between our
    pages, or reloading one, was referred by nobody)."""
    host = clean_host(urlsplit(request.headers.get("Referer", "")).hostname or "")
    return "" if host in _own_hosts(request) else host


def from_request(request: HttpRequest, *, embedding_host: bool = False) -> dict[str, str]:
    """What a form's GET tells of where it comes from: utm_* of its query string and the
    referring host. `embedding_host`: the embedded form, where the referring site is the page
    embedding it, named by embed.js (or, for a plain iframe, by the Referer its page sends)."""
    data: dict[str, Any] = {name: request.GET.get(name, "") for name in UTM_FIELDS}
    named = clean_host(request.GET.get(EMBEDDING_HOST_PARAM, "")) if embedding_host else ""
    data["referrer_host"] = named if named not in _own_hosts(request) else ""
    cleaned = clean(data)
    if not cleaned["referrer_host"]:
        cleaned["referrer_host"] = referring_host(request)
    return cleaned


def _own_hosts(request: HttpRequest) -> set[str]:
    hosts = {clean_host(request.get_host()), urlsplit(settings.SITE_URL).hostname or ""}
    return hosts - {""}


def properties(attendee: Attendee) -> dict[str, str]:
    """The attribution an event carries: only the values that are set."""
    return {name: value for name in FIELDS if (value := getattr(attendee, name))}
