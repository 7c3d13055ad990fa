from __future__ import annotations

from django import forms

from klaviyo_sandbox.models import Account, FaultKind, SuppressionReason
from klaviyo_sandbox.routers import DATABASE


class ConsentForm(forms.Form):
    account = forms.ModelChoiceField(
        queryset=Account.objects.using(DATABASE).all(),
        widget=forms.RadioSelect,
        empty_label=None,
        label="Install in which Klaviyo account?",
        error_messages={"required": "Choose the account to connect."},
    )


class FaultForm(forms.Form):
    kind = forms.ChoiceField(choices=FaultKind.choices, label="Fault")
    seconds = forms.IntegerField(
        min_value=1, max_value=3600, initial=30, label="For how many seconds"
    )
    delay_seconds = forms.FloatField(
        min_value=0,
        max_value=30,
        initial=2,
        required=False,
        label="Delay per response (seconds, slow responses only)",
    )


class SuppressForm(forms.Form):
    email = forms.EmailField(label="Email address")
    reason = forms.ChoiceField(
        choices=SuppressionReason.choices, initial=SuppressionReason.HARD_BOUNCE, label="Reason"
    )
