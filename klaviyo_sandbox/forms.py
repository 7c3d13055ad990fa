from __future__ import annotations

from typing import Any, cast

from django import forms

from klaviyo_sandbox.models import Account, FaultKind, FlowStatus, Metric, SuppressionReason
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


class FlowForm(forms.Form):
    name = forms.CharField(max_length=255, label="Flow name")
    trigger_metric = forms.ModelChoiceField(
        queryset=Metric.objects.none(),
        label="Triggered by the metric",
        error_messages={"required": "Choose the metric that triggers the flow."},
    )
    filter_property = forms.CharField(
        max_length=255,
        required=False,
        label="Only when the event property (optional)",
        help_text="An event property name, such as party_id.",
    )
    filter_value = forms.CharField(
        max_length=255,
        required=False,
        label="equals the value",
        help_text="Compared as text: p_42, 42, true.",
    )
    status = forms.ChoiceField(choices=FlowStatus.choices, initial=FlowStatus.DRAFT, label="Status")

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        metrics = Metric.objects.using(DATABASE).filter(account=account).order_by("name")
        # `fields` is typed as plain Fields; this one is the ModelChoiceField declared above.
        cast(forms.ModelChoiceField, self.fields["trigger_metric"]).queryset = metrics

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("filter_value") and not cleaned.get("filter_property"):
            self.add_error("filter_property", "Name the property the value is compared with.")
        return cleaned


class FlowStatusForm(forms.Form):
    status = forms.ChoiceField(choices=FlowStatus.choices)
