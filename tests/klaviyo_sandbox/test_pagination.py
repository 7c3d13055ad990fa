"""Cursor pagination over list members, as Klaviyo does it."""

from __future__ import annotations

from urllib.parse import urlsplit

from klaviyo_sandbox import testing
from tests.support.sandbox_requests import api, subscribe_body


def follow(client, app, url: str):
    parts = urlsplit(url)
    assert parts.scheme == "http"  # absolute, this host
    assert parts.netloc == "testserver"
    return client.get(f"{parts.path}?{parts.query}", headers=app.headers())


def test_paging_through_250_members_with_page_size_100(client, app):
    emails = [f"guest{i:03d}@example.com" for i in range(250)]
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", emails),
    )
    testing.advance(1)

    response = api(client, "GET", "lists/AcmNws/profiles?page[size]=100", app)
    seen, pages = [], 0
    while True:
        assert response.status_code == 200
        body = response.json()
        pages += 1
        seen += [item["attributes"]["email"] for item in body["data"]]
        assert all(item["attributes"]["joined_group_at"] for item in body["data"])
        if "next" not in body["links"]:
            break
        assert "page%5Bcursor%5D=" in body["links"]["next"]
        response = follow(client, app, body["links"]["next"])

    assert pages == 3
    assert seen == emails


def test_default_page_size_is_20(client, app):
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", [f"g{i}@example.com" for i in range(25)]),
    )

    body = api(client, "GET", "lists/AcmNws/profiles", app).json()

    assert len(body["data"]) == 20


def test_page_size_above_100_is_400(client, app):
    response = api(client, "GET", "lists/AcmNws/profiles?page[size]=101", app)

    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": "page[size]"}


def test_bad_cursor_is_400(client, app):
    response = api(client, "GET", "lists/AcmNws/profiles?page[cursor]=bogus", app)

    assert response.status_code == 400
    assert response.json()["errors"][0]["detail"] == "Invalid cursor provided."


def test_a_leading_equals_sign_on_the_cursor_is_tolerated(client, app):
    # Klaviyo's Python SDK sends page[cursor]==<cursor>.
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", [f"g{i}@example.com" for i in range(3)]),
    )
    first = api(client, "GET", "lists/AcmNws/profiles?page[size]=2", app).json()
    cursor = first["links"]["next"].split("page%5Bcursor%5D=")[1]

    response = api(client, "GET", f"lists/AcmNws/profiles?page[size]=2&page[cursor]=={cursor}", app)

    assert [item["attributes"]["email"] for item in response.json()["data"]] == ["g2@example.com"]


def test_lists_paginate_ten_at_a_time(client, app):
    for index in range(12):
        testing.create_list(name=f"List {index}")

    first = api(client, "GET", "lists", app).json()
    second = follow(client, app, first["links"]["next"]).json()

    assert len(first["data"]) == 10
    assert len(second["data"]) == 3  # 12 + the seeded Newsletter
    assert "next" not in second["links"]
