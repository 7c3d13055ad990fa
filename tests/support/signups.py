"""Attendees signing up for a party: through the service the public form calls once its
answers are valid (`signup`), or through the public form itself (`post_signup`)."""

from __future__ import annotations

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
    "consent": "on",
    "website": "",
}


def signup(party: Party, email: str = "sarah@example.com", **answers: str) -> Attendee:
    """`email` signs up for `party` (as Sarah, unless `answers` say otherwise): the attendee
    saved, or merged into the same address's earlier signup."""
    data = {"email": email, "first_name": "Sarah", **answers}
    attendee, _created = services.attendee_register(party=party, data=data, source="test form")
    return attendee


def signup_url(party: Party) -> str:
    return reverse("parties:signup", args=[party.slug])


def post_signup(
    client: Client, party: Party, *, address: str = "127.0.0.1", **changes: str
) -> HttpResponse:
    """The public form posted from `address` with `FORM`'s answers, changed by `changes`."""
    return client.post(signup_url(party), {**FORM, **changes}, REMOTE_ADDR=address)
