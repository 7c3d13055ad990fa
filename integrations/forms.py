from django import forms


class ConnectForm(forms.Form):
    label = forms.CharField(
        max_length=100,
        required=False,
        help_text="Optional: a name to tell this Klaviyo account apart, such as “EU store”.",
    )
