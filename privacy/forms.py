from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import normalize_email


class PersonForm(forms.Form):
    """Whose data: an address, looked up in the organization's parties."""

    email = forms.EmailField(
        label="Email address",
        max_length=254,
        error_messages={
            "required": "Enter the address the person signed up with.",
            "invalid": "Enter a valid email address, like name@example.com.",
        },
    )

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class EraseForm(PersonForm):
    """The erasure, confirmed."""

    confirm = forms.BooleanField(
        label="I understand that this cannot be undone.",
        error_messages={"required": "Tick this box to erase their data."},
    )
    # Offered only where the organization's owners turned the option on (the view removes it).
    klaviyo_delete = forms.BooleanField(
        label=(
            "Also ask Klaviyo to delete their profile. This deletes the person from the whole "
            "Klaviyo account: every list, every event and all their history there, not only "
            "what Partyline sent."
        ),
        required=False,
    )

    def __init__(self, *args: Any, klaviyo_deletion: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not klaviyo_deletion:
            del self.fields["klaviyo_delete"]
