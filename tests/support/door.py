"""The door as a phone uses it: its JSON check-ins and undos, each with an id the phone made."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from parties.models import Attendee, Party


def door_url(name: str, party: Party) -> str:
    return reverse(f"door:{name}", args=[party.pk])


def post_json(client: Client, url: str, body: dict[str, Any], **extra: Any) -> HttpResponse:
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def check_in(
    client: Client,
    party: Party,
    attendee: Attendee | None = None,
    *,
    client_id: str | None = None,
    **body: Any,
) -> HttpResponse:
    """A phone's check-in of `attendee` (or of whoever `body` names, such as a `code`)."""
    if attendee is not None:
        body["attendee"] = attendee.pk
    body["client_id"] = client_id or str(uuid4())
    return post_json(client, door_url("check_in", party), body)


def undo(
    client: Client,
    party: Party,
    attendee: Attendee,
    *,
    client_id: str | None = None,
    **body: Any,
) -> HttpResponse:
    body = {"attendee": attendee.pk, "client_id": client_id or str(uuid4()), **body}
    return post_json(client, door_url("check_in_undo", party), body)
