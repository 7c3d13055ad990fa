"""Forms for the organizer's party pages and the public signup page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.db.models import Field, Model, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.forms import ReminderHoursField, reminder_hours_text
from integrations.models import KlaviyoConnection
from parties import attribution
from parties.models import (
    CHOICE_KINDS,
    Attendee,
    ConsentWording,
    OptInProcess,
    Party,
    Place,
    Question,
    QuestionKind,
    SyncState,
)
from parties.questions import (
    MAX_CHOICE_LENGTH,
    MAX_CHOICES,
    RESERVED_KEYS,
    answer_field,
    answers_from_form,
    form_version,
    key_from,
    profile_property_from,
    property_problem,
)
from parties.selectors import NEEDS_ATTENTION

PARTY_FIELDS = (
    "name",
    "starts_at",
    "ends_at",
    "address",
    "address2",
    "city",
    "state",
    "description",
    "reminder_hours",
    "capacity",
    "waitlist_enabled",
    "claim_window_hours",
    "language",
)
# Beyond this a party is not a party, and a typo (an extra zero) is likelier than a guest list.
MAX_CAPACITY = 100_000
# A claim window is at most a week: longer, and the party may be over before the place moves.
MAX_CLAIM_WINDOW_HOURS = 168
# A time as a datetime-local input sends it, or typed by hand.
TIME_INPUTS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
TIME_INVALID = "Enter a date and time, like 2026-07-04 18:30."

TOO_LONG = _("Use at most %(limit_value)d characters (this has %(show_value)d).")


def _text(
    model: type[Model], name: str, *, required: bool | None = None, **kwargs: Any
) -> forms.Field:
    """A CharField sized and labelled like the model's column, with a plain length message;
    the label says "(optional)" when it may be left blank, as every form of the product does."""
    column = model._meta.get_field(name)
    if not isinstance(column, Field):  # a reverse relation has no column to size a text by
        raise TypeError(f"{model.__name__}.{name} is not a column.")
    required = not column.blank if required is None else required
    label = kwargs.pop("label", column.verbose_name.capitalize())
    return forms.CharField(
        label=label if required else format_lazy(_("{label} (optional)"), label=label),
        max_length=column.max_length,
        required=required,
        error_messages={"max_length": TOO_LONG, **kwargs.pop("error_messages", {})},
        **kwargs,
    )


class ConnectionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, connection: KlaviyoConnection) -> str:
        return connection.display_name


class PartyForm(forms.Form):
    """A party's details. `connections` adds the Klaviyo account choice (creation only)."""

    name = _text(
        Party,
        "name",
        help_text="Also the name of the Klaviyo list the party's attendees go into.",
        error_messages={"required": "Give the party a name."},
    )
    starts_at = forms.DateTimeField(
        label="Starts at",
        input_formats=TIME_INPUTS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        # Read and shown in the organization's time zone, which accounts.tenancy activates;
        # __init__ names it in the help text.
        help_text="In your organization's time zone.",
        error_messages={"required": "Say when the party starts.", "invalid": TIME_INVALID},
    )
    ends_at = forms.DateTimeField(
        label="Ends at (optional)",
        required=False,
        input_formats=TIME_INPUTS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty: three hours after the start.",
        error_messages={"invalid": TIME_INVALID},
    )
    address = _text(
        Party,
        "address",
        widget=forms.TextInput(attrs={"autocomplete": "address-line1"}),
        error_messages={"required": "Enter the street address."},
    )
    address2 = _text(
        Party, "address2", widget=forms.TextInput(attrs={"autocomplete": "address-line2"})
    )
    city = _text(Party, "city", error_messages={"required": "Enter the city."})
    state = _text(
        Party, "state", label="State or region", error_messages={"required": "Enter the state."}
    )
    description = _text(
        Party,
        "description",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Shown on the public signup page.",
    )
    reminder_hours = ReminderHoursField(label="Reminders, in hours before the start (optional)")
    capacity = forms.IntegerField(
        label="Capacity (optional)",
        required=False,
        min_value=1,
        max_value=MAX_CAPACITY,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text="How many people may register. Leave empty: no limit.",
        error_messages={
            "invalid": "Enter a whole number of people, like 40, or leave it empty.",
            "min_value": "A party needs room for at least %(limit_value)s person.",
            "max_value": "Enter at most %(limit_value)s people, or leave it empty for no limit.",
        },
    )
    waitlist_enabled = forms.BooleanField(
        label="Keep a waitlist once the party is full",
        required=False,
        initial=True,
        help_text="Unticked, the signup page says the party is full.",
    )
    claim_window_hours = forms.IntegerField(
        label="Claim window, in hours (optional)",
        required=False,
        min_value=1,
        max_value=MAX_CLAIM_WINDOW_HOURS,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text=(
            "When a place frees up, the first person waiting is offered it for this long and "
            "claims it on their page; unclaimed, it goes to the next. Leave empty: they are "
            "registered at once."
        ),
        error_messages={
            "invalid": "Enter a whole number of hours, like 24, or leave it empty.",
            "min_value": "Give people at least %(limit_value)s hour to claim a place.",
            "max_value": "Enter at most %(limit_value)s hours (a week), or leave it empty.",
        },
    )
    language = forms.ChoiceField(
        label="Language of the public pages",
        choices=settings.LANGUAGES,
        initial=settings.LANGUAGE_CODE,
        # A browser always sends the select's value; a form posted without it (a script
        # written before the field existed) keeps the party's language (clean_language).
        required=False,
        help_text=(
            "The signup page, the thank-you page and each attendee's own page are in this "
            "language; your pages stay in English. What you write yourself (the description, "
            "your consent wording) shows as you wrote it."
        ),
        error_messages={"invalid_choice": "Choose one of the languages listed."},
    )

    def __init__(
        self,
        *args: Any,
        default_reminder_hours: list[int],
        connections: QuerySet[KlaviyoConnection] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        zone = timezone.get_current_timezone_name()
        self.fields["starts_at"].help_text = f"In your organization's time zone, {zone}."
        default = (
            f"your organization's, {reminder_hours_text(default_reminder_hours)}"
            if default_reminder_hours
            else "your organization's, which is none"
        )
        self.fields["reminder_hours"].help_text = (
            "Whole hours before the start, separated by commas, like 24, 2. At each, every "
            "registered attendee gets a Party Starting Soon event for your Klaviyo reminder "
            f"flow. Leave empty: {default}."
        )
        self.single_connection: KlaviyoConnection | None = None
        if connections is None:
            return
        # Chosen once, at creation: it is how Klaviyo's list is made.
        self.fields["opt_in_process"] = forms.ChoiceField(
            label="How people join the list",
            choices=[
                (OptInProcess.SINGLE, "Single opt-in: they join the list when they sign up"),
                (
                    OptInProcess.DOUBLE,
                    "Double opt-in: Klaviyo emails them a link, and they join once they click it",
                ),
            ],
            initial=OptInProcess.SINGLE,
            widget=forms.RadioSelect,
            error_messages={"required": "Choose how people join the list."},
        )
        choices = list(connections)
        if len(choices) == 1:
            self.single_connection = choices[0]
        else:
            self.fields["connection"] = ConnectionChoiceField(
                queryset=KlaviyoConnection.objects.filter(pk__in=[c.pk for c in choices]),
                label="Klaviyo account",
                empty_label="Choose a Klaviyo account",
                help_text="The party's list is created in this account.",
                error_messages={
                    "required": "Choose the Klaviyo account for this party's list.",
                    "invalid_choice": "Choose one of your connected Klaviyo accounts.",
                },
            )

    @classmethod
    def initial_for(cls, party: Party) -> dict[str, Any]:
        return {name: getattr(party, name) for name in PARTY_FIELDS}

    def clean_language(self) -> str:
        language: str = self.cleaned_data["language"]
        return language or self.initial.get("language") or settings.LANGUAGE_CODE

    def clean(self) -> dict[str, Any]:
        cleaned = self.cleaned_data
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", "The party must end after it starts.")
        for name in ("starts_at", "ends_at"):
            cleaned[name] = self._kept_to_the_minute(name, cleaned.get(name))
        return cleaned

    def _kept_to_the_minute(self, name: str, value: Any) -> Any:
        """The input holds minutes: a time sent back as it was shown keeps its seconds, so
        saving the form unchanged is no change of time (which attendees would be told of)."""
        initial = self.initial.get(name)
        if value is None or initial is None:
            return value
        if initial.replace(second=0, microsecond=0) == value:
            return initial
        return value

    @property
    def party_data(self) -> dict[str, Any]:
        data = {name: self.cleaned_data[name] for name in PARTY_FIELDS}
        if "opt_in_process" in self.cleaned_data:
            data["opt_in_process"] = self.cleaned_data["opt_in_process"]
        return data

    @property
    def connection(self) -> KlaviyoConnection:
        """The Klaviyo account chosen: the only one, or the one picked (creation only)."""
        connection: KlaviyoConnection | None = self.cleaned_data.get(
            "connection", self.single_connection
        )
        if connection is None:
            raise ValueError("A PartyForm made without `connections` has no Klaviyo account.")
        return connection


class PartyDeleteForm(forms.Form):
    delete_list = forms.BooleanField(
        label="Also delete the party's list in Klaviyo",
        required=False,
        help_text="Profiles stay in Klaviyo either way; only the list goes.",
    )


class AttendeeFilterForm(forms.Form):
    """The attendee table's search box, place and Klaviyo state filters; bad values just mean
    'all'."""

    q = forms.CharField(label="Email", max_length=254, required=False)
    place = forms.ChoiceField(label="Place", choices=[("", "All"), *Place.choices], required=False)
    state = forms.ChoiceField(
        label="Klaviyo",
        choices=[("", "All"), (NEEDS_ATTENTION, "Needs attention"), *SyncState.choices],
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update({"type": "search", "placeholder": "Search by email"})

    def value(self, name: str) -> str:
        return self.cleaned_data.get(name, "") if self.is_valid() else ""


class AttendeeDetailsForm(forms.Form):
    """An attendee's name and answers to the party's questions: what the signup form asks
    besides the address and the consent, and all they can change on their own page (the
    address is who they are in Klaviyo: another address is another signup)."""

    first_name = _text(
        Attendee,
        "first_name",
        required=True,
        label=_("First name"),
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
        error_messages={"required": _("Enter your first name.")},
    )
    last_name = _text(
        Attendee,
        "last_name",
        label=_("Last name"),
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )

    def __init__(
        self,
        *args: Any,
        questions: list[Question],
        instance: Attendee | None = None,
        **kwargs: Any,
    ) -> None:
        answers = instance.answers if instance is not None else {}
        if instance is not None:
            details = {"first_name": instance.first_name, "last_name": instance.last_name}
            kwargs.setdefault("initial", {**details, **answers})
        super().__init__(*args, **kwargs)
        self.questions = questions
        for question in questions:
            self.fields[question.key] = answer_field(question, kept=answers.get(question.key))

    @property
    def answers(self) -> dict[str, Any]:
        """The answers given, as stored (blanks left out)."""
        return answers_from_form(self.questions, self.cleaned_data)

    @property
    def details(self) -> dict[str, Any]:
        return {
            "first_name": self.cleaned_data["first_name"],
            "last_name": self.cleaned_data["last_name"],
            "answers": self.answers,
        }


class SignupForm(AttendeeDetailsForm):
    """The public signup form. `website` is a honeypot: people never see or fill it."""

    email = forms.EmailField(
        label=_("Email"),
        max_length=Attendee._meta.get_field("email").max_length,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "required": _("Enter your email address."),
            "invalid": _("Enter a valid email address, like name@example.com."),
            "max_length": TOO_LONG,
        },
    )
    # Optional and unticked: registering never depends on it (the party's own emails come
    # with the registration; this is for everything else).
    marketing_consent = forms.BooleanField(required=False)
    # The wording version the page showed, so the record keeps what they saw even if the
    # organization edits it meanwhile.
    consent_wording = forms.IntegerField(widget=forms.HiddenInput, required=False)
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    HONEYPOT = "website"
    # The party's questions come after the email, then the consent and the honeypot.
    field_order = ("first_name", "last_name", "email")

    def __init__(self, *args: Any, wording: ConsentWording, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order_fields(
            [
                *self.field_order,
                *(question.key for question in self.questions),
                "marketing_consent",
                "consent_wording",
                "website",
            ]
        )
        self.wording = wording
        self.fields["marketing_consent"].label = wording.marketing
        self.fields["consent_wording"].initial = wording.pk

    def typed(self, data: QueryDict) -> dict[str, Any]:
        """What was typed into the form, as initial values: kept, not judged (a refused POST
        whose only problem is something else, like a rate limit)."""
        typed: dict[str, Any] = {}
        for name, field in self.fields.items():
            if name != self.HONEYPOT:
                many = isinstance(field, forms.MultipleChoiceField)
                typed[name] = data.getlist(name) if many else data.get(name, "")
        return typed

    @property
    def cache_version(self) -> str:
        """What the cached blank form is keyed by: the questions and the consent wording."""
        return f"{form_version(self.questions)}:{self.wording.pk}"

    @property
    def signup_data(self) -> dict[str, Any]:
        return {
            "email": self.cleaned_data["email"],
            **self.details,
            "marketing_consent": self.cleaned_data["marketing_consent"],
        }

    def wording_seen(self) -> ConsentWording:
        """The version the person answered: the page's, or the current one when the page's
        is missing or not the organization's (a tampered form is no reason to refuse)."""
        version_id = self.cleaned_data.get("consent_wording")
        if version_id is None or version_id == self.wording.pk:
            return self.wording
        seen = ConsentWording.objects.filter(
            pk=version_id, organization_id=self.wording.organization_id
        ).first()
        return seen or self.wording


class QuestionForm(forms.Form):
    """A question of the signup form, as the organizer writes it. The key is chosen once, at
    creation (`creating`): answers are stored and sent to Klaviyo under it."""

    label = forms.CharField(
        label="Question",
        max_length=Question._meta.get_field("label").max_length,
        error_messages={"required": "Write the question.", "max_length": TOO_LONG},
    )
    help_text = _text(
        Question, "help_text", label="Help text", help_text="Shown under the question."
    )
    kind = forms.ChoiceField(label="Answer", choices=QuestionKind.choices)
    choices = forms.CharField(
        label="Options (for a choice)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"One per line, at most {MAX_CHOICES}.",
    )
    required = forms.BooleanField(
        label="Required",
        required=False,
        help_text="People cannot sign up without answering (a required checkbox must be ticked).",
    )
    profile_property = forms.CharField(
        label="Klaviyo profile property (optional)",
        required=False,
        max_length=200,
        help_text=(
            "Also save the answer on the person's Klaviyo profile under this name, for "
            "segments and personalisation. Leave empty: it goes with their events only."
        ),
    )
    key = forms.CharField(
        label="Key (optional)",
        required=False,
        max_length=Question._meta.get_field("key").max_length,
        help_text=(
            "The answer's name in Klaviyo events and the CSV, like dietary_needs. Leave empty: "
            "made from the question. It cannot change later."
        ),
    )

    def __init__(self, *args: Any, creating: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not creating:
            del self.fields["key"]

    @classmethod
    def initial_for(cls, question: Question) -> dict[str, Any]:
        return {
            "label": question.label,
            "help_text": question.help_text,
            "kind": question.kind,
            "choices": "\n".join(question.choices),
            "required": question.required,
            "profile_property": question.profile_property,
        }

    def clean_key(self) -> str:
        typed = self.cleaned_data["key"].strip()
        if not typed:
            return ""
        key = key_from(typed)
        if key != typed:
            raise forms.ValidationError(
                f"Use lowercase letters, digits and underscores, like {key or 'dietary_needs'}."
            )
        if key in RESERVED_KEYS:
            raise forms.ValidationError(f"“{key}” is a name the form already uses.")
        return key

    def clean_profile_property(self) -> str:
        name = profile_property_from(self.cleaned_data["profile_property"])
        if self.cleaned_data["profile_property"].strip() and not name:
            raise forms.ValidationError("Use letters or digits in the property name.")
        if problem := property_problem(name):
            raise forms.ValidationError(problem)
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = self.cleaned_data
        kind = cleaned.get("kind")
        options: list[str] = []
        for line in (cleaned.get("choices") or "").splitlines():
            option = " ".join(line.split())
            if option and option not in options:
                options.append(option)
        if kind in CHOICE_KINDS:
            if len(options) < 2:
                self.add_error("choices", "Give at least two options, one per line.")
            elif len(options) > MAX_CHOICES:
                self.add_error("choices", f"Give at most {MAX_CHOICES} options.")
            elif any(len(option) > MAX_CHOICE_LENGTH for option in options):
                self.add_error("choices", f"Keep each option to {MAX_CHOICE_LENGTH} characters.")
        cleaned["choices"] = options if kind in CHOICE_KINDS else []
        label = cleaned.get("label")
        if label and "key" in self.fields and not cleaned.get("key") and not key_from(label):
            self.add_error("key", "Give a key of letters or digits, like dietary_needs.")
        return cleaned

    @property
    def question_data(self) -> dict[str, Any]:
        names = ("label", "help_text", "kind", "choices", "required", "profile_property", "key")
        return {name: self.cleaned_data[name] for name in names if name in self.cleaned_data}


# --- Where a signup comes from, and the embedded form's token -------------------------------
# Hidden fields added on top of SignupForm, whatever it asks: the public page's form and the
# embedded one are these subclasses (parties.public_views).


class AttributionField(forms.Field):
    """One of parties.attribution's values as a hidden field: cleaned, never refused (anyone
    can write it, and a bad one is no reason to turn a signup away)."""

    widget = forms.HiddenInput

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)
        self.attribution_name = name

    def to_python(self, value: Any) -> str:
        return attribution.clean({self.attribution_name: value})[self.attribution_name]


class AttributedSignupForm(SignupForm):
    """The signup form carrying where it comes from, read when it was shown (its `initial`,
    from `attribution.from_request`), to the signup."""

    utm_source = AttributionField("utm_source")
    utm_medium = AttributionField("utm_medium")
    utm_campaign = AttributionField("utm_campaign")
    referrer_host = AttributionField("referrer_host")

    @property
    def signup_data(self) -> dict[str, Any]:
        came_from = {name: self.cleaned_data.get(name, "") for name in attribution.FIELDS}
        return {**super().signup_data, **came_from}


class EmbeddedSignupForm(AttributedSignupForm):
    """The form in another site's frame, where no cookie is kept: a signed form token
    (parties.embed) stands in for the CSRF token, checked before the form is."""

    form_token = forms.CharField(widget=forms.HiddenInput, required=False)

    SIGNED_FIELD = "form_token"
