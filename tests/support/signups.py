"""Attendees signing up for a party: through the service the public form calls once its
answers are valid (`signup`), or through the public form itself (`post_signup`)."""

from __future__ import annotations

import re
from typing import Any

import requests
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from parties import services
from parties.models import Attendee, Party

# The public form, filled in as a person would (the honeypot left empty).
FORM = {
    "first_name": "Sarah",
    "last_name": "Mason",
    "email": "sarah@example.com",
    "pet_name": "Rex",
    "pet_type": "dog",
    "marketing_consent": "on",
    "website": "",
}


# What `signup` takes as the signup's own fields; any other keyword is a question's answer.
SIGNUP_DATA = (
    "first_name",
    "last_name",
    "marketing_consent",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "referrer_host",
)


def signup(party: Party, email: str = "sarah@example.com", **given: Any) -> Attendee:
    """`email` signs up for `party` (as Sarah, unless `given` says otherwise, with `given`'s
    other keywords as answers: pet_name="Rex"): the attendee saved, or merged into the same
    address's earlier signup. A blank answer is no answer, as the form leaves it out."""
    answers = {key: value for key, value in given.items() if key not in SIGNUP_DATA and value}
    data = {
        "email": email,
        "first_name": "Sarah",
        "marketing_consent": True,
        **{key: value for key, value in given.items() if key in SIGNUP_DATA},
        "answers": answers,
    }
    attendee, _created = services.attendee_register(party=party, data=data)
    return attendee


def signup_url(party: Party) -> str:
    return reverse("parties:signup", args=[party.slug])


def post_signup(
    client: Client, party: Party, *, address: str = "127.0.0.1", **changes: str
) -> HttpResponse:
    """The public form posted from `address` with `FORM`'s answers, changed by `changes`."""
    return client.post(signup_url(party), {**FORM, **changes}, REMOTE_ADDR=address)


def signup_over_http(url: str, email: str) -> int | None:
    """A person at a browser: the public form at `url` fetched, then posted with its CSRF
    token as `email`. The answer's status (303: accepted), None when no answer came."""
    browser = requests.Session()
    try:
        page = browser.get(url, timeout=5)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if token is None:
            return page.status_code
        answer = browser.post(
            url,
            data={**FORM, "csrfmiddlewaretoken": token[1], "first_name": "Rush", "email": email},
            headers={"Referer": url},
            allow_redirects=False,
            timeout=5,
        )
    except requests.RequestException:
        return None
    return answer.status_code
