"""What the door's pages and devices send: a check-in or an undo (JSON from static/js/door.js,
checked as forms), and a walk-in's registration (the public form's consent, on the staff's
phone)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms

from parties.forms import SignupForm
from parties.models import ConsentWording

OVER_CAPACITY = "Let them in over capacity"


class GuestActionForm(forms.Form):
    """A device's action on one guest, found by their id or by their QR code's `code`."""

    client_id = forms.UUIDField()
    attendee = forms.IntegerField(required=False, min_value=1)
    code = forms.CharField(required=False, max_length=24)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("attendee") and not cleaned.get("code"):
            raise forms.ValidationError("Say which guest: their id (attendee) or their code.")
        return cleaned


class CheckInForm(GuestActionForm):
    # When the device recorded it (milliseconds since the epoch, the device's clock), if it
    # was offline then.
    device_time = forms.IntegerField(required=False, min_value=0)

    @property
    def device_moment(self) -> datetime | None:
        milliseconds = self.cleaned_data.get("device_time")
        if milliseconds is None:
            return None
        try:
            return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None


class UndoForm(GuestActionForm):
    # The client id of the check-in the device saw, so a check-in made since is not undone.
    check_in = forms.UUIDField(required=False)


class WalkInForm(SignupForm):
    """The public signup form's name, address and marketing consent (the same words and
    registration statement), on the staff's phone; none of the party's questions (a queue
    at the door waits for no survey); `over_capacity` when the party is full."""

    client_id = forms.UUIDField(widget=forms.HiddenInput)
    over_capacity = forms.BooleanField(
        required=False,
        label=OVER_CAPACITY,
        help_text="The party is full: this adds one place, for them.",
    )

    def __init__(self, *args: Any, wording: ConsentWording, full: bool, **kwargs: Any) -> None:
        super().__init__(*args, questions=[], wording=wording, **kwargs)
        # Staff fill it in: no bot to catch, and a field they cannot see would only confuse.
        del self.fields[self.HONEYPOT]
        if not full:
            del self.fields["over_capacity"]
