"""Stand-ins for the Klaviyo client's unit tests: where Klaviyo is, the tokens it hands out, a
token source that refreshes when told, and Klaviyo's JSON:API error documents."""

from __future__ import annotations

BASE = "https://a.klaviyo.com"
ACCESS_TOKEN = "ACCESS-TOKEN-never-logged-1"
NEW_ACCESS_TOKEN = "ACCESS-TOKEN-never-logged-2"
CLIENT_SECRET = "CLIENT-SECRET-never-logged"


class FakeTokenSource:
    """Hands out one token, and a newer one when told the first was rejected."""

    def __init__(self, token: str = ACCESS_TOKEN, refreshed: str = NEW_ACCESS_TOKEN) -> None:
        self.token = token
        self.refreshed = refreshed
        self.rejected: list[str] = []

    def access_token(self) -> str:
        return self.token

    def refreshed_access_token(self, *, rejected: str) -> str:
        self.rejected.append(rejected)
        self.token = self.refreshed
        return self.token


def error_document(
    status: int, code: str, detail: str, *, pointer: str | None = None, meta: dict | None = None
) -> dict:
    """A JSON:API error document in Klaviyo's shape."""
    error: dict = {
        "id": "cc68708d-0000-4000-8000-000000000000",
        "status": status,
        "code": code,
        "title": "Error.",
        "detail": detail,
        "source": {"pointer": pointer} if pointer else {},
        "links": {},
        "meta": meta or {},
    }
    return {"errors": [error]}
