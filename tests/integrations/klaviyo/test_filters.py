"""Filters, and the byte budget of the request lines that carry them: a filtered read over many
long addresses is split so that no request line is long enough for a server to refuse."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.klaviyo.filters import (
    MAX_REQUEST_LINE_BYTES,
    any_of,
    equals,
    filtered_queries,
    request_line_bytes,
)

from .conftest import BASE

MEMBERS_URL = f"{BASE}/api/lists/L1/profiles/"
PROFILES_URL = f"{BASE}/api/profiles/"


def address(number: int, length: int = 60) -> str:
    """A distinct address exactly `length` characters long."""
    local = f"guest{number:03d}."
    return local + "x" * (length - len(local) - len("@example.com")) + "@example.com"


def asked(request) -> list[str]:
    """The addresses an `any(email,[...])` filter in the request asks about."""
    (expression,) = parse_qs(urlsplit(request.url).query)["filter"]
    return re.findall(r'"([^"]*)"', expression)


def line(request) -> str:
    return f"{request.method} {request.path_url} HTTP/1.1"


def every_address_a_member(request) -> tuple[int, dict, str]:
    members = [
        {"type": "profile", "id": f"P-{email}", "attributes": {"email": email}}
        for email in asked(request)
    ]
    return 200, {}, json.dumps({"data": members, "links": {"next": None}})


def test_equals_escapes_quotes_and_backslashes():
    assert equals("email", 'a"),or(x\\@example.com') == r'equals(email,"a\"),or(x\\@example.com")'


def test_any_of_quotes_each_value():
    assert any_of("email", ['a"@x.com', "b@x.com"]) == r'any(email,["a\"@x.com","b@x.com"])'


def test_an_empty_any_filter_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        any_of("email", [])


def test_the_request_line_is_measured_as_requests_encodes_it():
    params = {"filter": equals("email", "a b@example.com"), "page[size]": 100}

    measured = request_line_bytes("GET", MEMBERS_URL, params)

    expected = "GET /api/lists/L1/profiles/?filter=equals%28email%2C%22a+b%40example.com%22%29"
    assert measured == len(f"{expected}&page%5Bsize%5D=100 HTTP/1.1")


def test_100_addresses_of_60_characters_are_read_in_lines_under_the_budget(client, mocked):
    emails = [address(n) for n in range(100)]
    mocked.add_callback("GET", MEMBERS_URL, callback=every_address_a_member)

    members = client.list_members_among(list_id="L1", emails=emails)

    # One line for all 100 would be about 7 KB: gunicorn's default refuses anything over 4,094.
    assert len(mocked.calls) > 1
    for call in mocked.calls:
        assert len(line(call.request).encode()) <= MAX_REQUEST_LINE_BYTES
    # Each address asked about once, in order, and every answer merged into one result.
    assert [email for call in mocked.calls for email in asked(call.request)] == emails
    assert [member.email for member in members] == emails
    assert members[0].profile_id == f"P-{emails[0]}"


def test_consent_reads_share_the_budget(client, mocked):
    emails = [address(n) for n in range(100)]
    mocked.add_callback("GET", PROFILES_URL, callback=every_address_a_member)

    profiles = client.profiles_with_consent(emails=emails)

    assert len(mocked.calls) > 1
    assert all(len(line(c.request).encode()) <= MAX_REQUEST_LINE_BYTES for c in mocked.calls)
    assert [profile.email for profile in profiles] == emails


def test_short_addresses_are_still_read_in_one_call(client, mocked):
    emails = [f"a{n}@x.co" for n in range(100)]
    mocked.add_callback("GET", MEMBERS_URL, callback=every_address_a_member)

    members = client.list_members_among(list_id="L1", emails=emails)

    assert len(mocked.calls) == 1
    assert len(members) == 100


def test_a_split_never_asks_about_more_values_than_allowed():
    queries = list(
        filtered_queries(
            "GET",
            MEMBERS_URL,
            values=[f"a{n}@x.co" for n in range(7)],
            filter_for=lambda batch: any_of("email", batch),
            params={},
            max_values=3,
        )
    )

    assert [len(re.findall('"', query["filter"])) // 2 for query in queries] == [3, 3, 1]


def test_a_value_too_long_to_fit_alone_goes_alone():
    huge = "x" * MAX_REQUEST_LINE_BYTES + "@example.com"

    queries = list(
        filtered_queries(
            "GET",
            MEMBERS_URL,
            values=["a@x.co", huge, "b@x.co"],
            filter_for=lambda batch: any_of("email", batch),
            params={},
            max_values=100,
        )
    )

    assert [query["filter"] for query in queries] == [
        any_of("email", ["a@x.co"]),
        any_of("email", [huge]),
        any_of("email", ["b@x.co"]),
    ]
