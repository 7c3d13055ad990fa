from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import (
    REMINDER_HOURS_MAX,
    Membership,
    Organization,
    Role,
    User,
    normalize_email,
)
from accounts.origins import MAX_ORIGINS, normalize_origin
from accounts.timezones import DEFAULT_TIME_ZONE, is_time_zone, time_zone_choices


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form; the `username` field holds the email address."""

    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": (
            "That email and password do not match an account. Check both and try again."
        ),
    }


class OrganizationNameField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Organization name")
        kwargs.setdefault("max_length", Organization.NAME_MAX_LENGTH)
        kwargs.setdefault("help_text", "Your business or team, as your colleagues know it.")
        kwargs.setdefault("error_messages", {"required": "Enter the organization's name."})
        super().__init__(**kwargs)


TIME_ZONE_HELP = "Party times are shown and entered in this time zone."
AUTOMATIC_TIME_ZONE = "Automatic: this browser's time zone (UTC if it does not say)"


def _automatic_time_zone_choices() -> list[tuple[str, str]]:
    return [("", AUTOMATIC_TIME_ZONE), *time_zone_choices()]


class NewOrganizationTimeZoneMixin(forms.Form):
    """A new organization's time zone: the browser's, which static/js/time-zone.js writes into
    the hidden `browser_time_zone` field, unless the person picks one in the select (the
    fallback when there is no JavaScript, or to choose another). `cleaned_data["time_zone"]`
    is always a valid zone name."""

    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        choices=_automatic_time_zone_choices,
        help_text=f"{TIME_ZONE_HELP} You can change it later in the organization's settings.",
        widget=forms.Select(attrs={"data-time-zone-select": ""}),
        error_messages={"invalid_choice": "Choose a time zone from the list."},
    )
    browser_time_zone = forms.CharField(
        required=False,
        widget=forms.HiddenInput(attrs={"data-browser-time-zone": ""}),
    )

    def clean_time_zone(self) -> str:
        chosen = self.cleaned_data.get("time_zone")
        if chosen:
            return chosen
        # Hidden and written by script: an odd value is ignored, not shown as an error.
        browser = (self.data.get(self.add_prefix("browser_time_zone")) or "").strip()
        return browser if is_time_zone(browser) else DEFAULT_TIME_ZONE


class SignupForm(NewOrganizationTimeZoneMixin, forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    organization_name = OrganizationNameField()
    field_order = ["email", "password1", "password2", "organization_name", "time_zone"]

    def __init__(self, *args: Any, invite_email: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invite_email = invite_email
        if invite_email:
            # Joining through an invite: the address is the invited one, and no organization
            # is created.
            del self.fields["organization_name"]
            del self.fields["time_zone"]
            del self.fields["browser_time_zone"]
            self.fields["email"].initial = invite_email
            self.fields["email"].disabled = True

    def clean_email(self) -> str:
        email = normalize_email(self.invite_email or self.cleaned_data["email"])
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError(
                "An account with this email already exists. Log in instead, or reset your "
                "password if you forgot it."
            )
        return email

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        password1 = cleaned.get("password1")
        password2 = cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords do not match.")
        elif password1:
            candidate = User(email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(password1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class OrganizationForm(NewOrganizationTimeZoneMixin, forms.Form):
    """A new organization: its name and time zone."""

    name = OrganizationNameField()
    field_order = ["name", "time_zone"]


def reminder_hours_text(hours: list[int] | None) -> str:
    """Lead times as the reminder field shows them: "24, 2" ("" for none)."""
    return ", ".join(str(hour) for hour in hours) if hours else ""


class ReminderHoursField(forms.CharField):
    """Reminder lead times typed as whole hours separated by commas ("24, 2"). Cleans to the
    hours, largest first, or None when left empty (what that means is the form's to say)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Reminders, in hours before the start")
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 100)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return reminder_hours_text(value) if isinstance(value, list) else value

    def clean(self, value: Any) -> list[int] | None:
        text = super().clean(value)
        hours: list[int] = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue  # "24, 2," or "24,, 2": a stray comma is no mistake worth an error
            if not (part.isascii() and part.isdigit()):
                raise forms.ValidationError(
                    f"“{part}” is not a whole number of hours. Separate the hours with "
                    "commas, like 24, 2."
                )
            hour = int(part)
            if not 1 <= hour <= REMINDER_HOURS_MAX:
                raise forms.ValidationError(
                    f"{hour} is not between 1 and {REMINDER_HOURS_MAX} hours (two weeks) "
                    "before the start."
                )
            if hour in hours:
                raise forms.ValidationError(f"{hour} is there twice: give each lead time once.")
            hours.append(hour)
        return sorted(hours, reverse=True) or None


class OriginsField(forms.CharField):
    """Sites typed one per line (or separated by spaces or commas), cleaned to their origins
    (accounts.origins), each once, in the order given; every bad one is named."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocapitalize": "off"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 4000)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def clean(self, value: Any) -> list[str]:
        text = super().clean(value)
        origins: list[str] = []
        errors: list[forms.ValidationError] = []
        for part in text.replace(",", " ").split():
            try:
                origin = normalize_origin(part)
            except forms.ValidationError as error:
                errors.append(error)
                continue
            if origin not in origins:
                origins.append(origin)
        if errors:
            raise forms.ValidationError(errors)
        if len(origins) > MAX_ORIGINS:
            raise forms.ValidationError(
                f"List at most {MAX_ORIGINS} sites (this has {len(origins)})."
            )
        return origins


class OrganizationSettingsForm(forms.Form):
    """An organization's settings, edited by its owners and admins."""

    name = OrganizationNameField()
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=time_zone_choices,
        help_text=(
            f"{TIME_ZONE_HELP} Changing it keeps each party at the same moment and shows it "
            "in the new zone's local time."
        ),
        error_messages={
            "required": "Choose a time zone.",
            "invalid_choice": "Choose a time zone from the list.",
        },
    )
    reminder_hours = ReminderHoursField(
        label="Reminders before each party, in hours",
        help_text=(
            "Whole hours before a party starts, separated by commas, like 24, 2 (at most "
            f"{REMINDER_HOURS_MAX}). At each, every registered attendee gets a Party Starting "
            "Soon event, which your Klaviyo flow sends the reminder from. A party can set its "
            "own. Leave empty for no reminders."
        ),
    )
    marketing_consent_text = forms.CharField(
        label="Marketing consent on signup forms (optional)",
        max_length=Organization._meta.get_field("marketing_consent_text").max_length,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=(
            "The optional checkbox's words, in your own; leave empty for Partyline's, which "
            "name your organization. Registering never depends on it. Every wording shown is "
            "kept, and each attendee's record keeps the one they saw."
        ),
    )
    attendee_retention_days = forms.IntegerField(
        label="Days to keep attendees' details after a party (optional)",
        min_value=1,
        max_value=3650,
        required=False,
        help_text=(
            "That many days after each party ends, its attendees' names, emails, answers and "
            "consent records are erased (the counts stay) and they leave its Klaviyo list. "
            "Leave empty to keep them until you erase them."
        ),
        error_messages={
            "min_value": "Keep them at least 1 day, or leave it empty.",
            "max_value": "At most 3650 days (ten years), or leave it empty.",
            "invalid": "Enter a whole number of days, or leave it empty.",
        },
    )
    embed_origins = OriginsField(
        label="Sites that may show your signup forms (optional)",
        help_text=(
            "Your own sites where you paste a party's signup form (the snippet on each party's "
            "page), one per line, like https://www.example.com. Browsers show the form in "
            "pages of these sites only; leave empty and no other site can show it."
        ),
    )
    klaviyo_deletion_enabled = forms.BooleanField(
        label="Also ask Klaviyo to delete an erased person's profile",
        required=False,
        help_text=(
            "When you erase a person, Partyline will also ask Klaviyo to delete their profile "
            "from your whole Klaviyo account: every list, every event and every flow history "
            "there, not only Partyline's, and Klaviyo cannot undo it. Turning it on means "
            "reconnecting Klaviyo to grant Partyline the data-privacy:write permission."
        ),
    )

    def __init__(self, *args: Any, may_change_deletion: bool, **kwargs: Any) -> None:
        """`may_change_deletion`: whether the person is an owner, the only role that turns
        Klaviyo deletion on or off; others see it read-only (a disabled field keeps its
        initial value whatever is posted)."""
        super().__init__(*args, **kwargs)
        if not may_change_deletion:
            field = self.fields["klaviyo_deletion_enabled"]
            field.disabled = True
            field.help_text = f"{field.help_text} Only owners change it."


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args: Any, organization: Organization, actor: Membership, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.organization = organization
        if actor.role != Role.OWNER:
            cast(forms.ChoiceField, self.fields["role"]).choices = [
                choice for choice in Role.choices if choice[0] != Role.OWNER
            ]

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data["email"])
        if self.organization.memberships.filter(user__email=email).exists():
            raise forms.ValidationError("This person is already a member.")
        if self.organization.invites.pending().filter(email=email).exists():
            raise forms.ValidationError(
                "This person already has a pending invite. Revoke it first to send a new one."
            )
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class SwitchOrganizationForm(forms.Form):
    organization = forms.IntegerField(min_value=1)


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the token is for, such as “Zapier” or “reporting script”.",
        error_messages={"required": "Name the token so you can recognise it later."},
    )


class OrganizationDeleteForm(forms.Form):
    """The owner confirms a deletion by typing the organization's name."""

    name = forms.CharField(
        label="Type the organization's name to confirm",
        max_length=Organization.NAME_MAX_LENGTH,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": "Type the organization's name to confirm."},
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["name"].help_text = f"Type “{organization.name}”, exactly as shown."

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if name != self.organization.name:
            raise forms.ValidationError(
                f"That is not the organization's name. Type “{self.organization.name}” "
                "exactly as shown, or cancel."
            )
        return name


class AccountDeleteForm(forms.Form):
    """The person confirms deleting their account with their password."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": "Enter your password to confirm."},
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password. Nothing was deleted.")
        return password
