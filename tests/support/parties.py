"""A party as an organizer enters it: through the service (`PARTY`) and through the new-party
form (`PARTY_FORM`, its time as a datetime-local input sends it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

PARTY = {
    "name": "Howl-o-ween",
    "starts_at": timezone.now() + timedelta(days=7),
    "address": "1 Bark Street",
    "address2": "",
    "city": "Boston",
    "state": "MA",
    "description": "Costumes encouraged.",
}


def local_input(moment: datetime) -> str:
    """How a datetime-local input sends a time."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


STARTS_AT = (timezone.now() + timedelta(days=10)).replace(second=0, microsecond=0)
PARTY_FORM = {
    "name": "Howl-o-ween",
    "starts_at": local_input(STARTS_AT),
    "address": "1 Bark Street",
    "address2": "Back garden",
    "city": "Boston",
    "state": "MA",
    "description": "Costumes encouraged.",
    "opt_in_process": "single_opt_in",
}
