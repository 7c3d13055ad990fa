"""Organizers' accounts: the password every test user is made with, and the answers of the
account signup form."""

from __future__ import annotations

PASSWORD = "correct horse battery staple"
# A password the signup form's validators accept (not common, not numeric, long enough).
STRONG_PASSWORD = "purple-otter-marmalade-42"
SIGNUP_URL = "/accounts/signup/"


def signup_data(**overrides: str) -> dict[str, str]:
    """The account signup form, filled in as a new organizer would (changed by `overrides`)."""
    return {
        "email": "Sarah@Example.com",
        "password1": STRONG_PASSWORD,
        "password2": STRONG_PASSWORD,
        "organization_name": "Happy Paws",
        **overrides,
    }
