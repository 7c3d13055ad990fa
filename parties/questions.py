"""A party's own signup questions: their keys, the form fields that ask them, how their answers
read, and the organizer's changes to them.

An answer is stored on the attendee under its question's key (`Attendee.answers`) and sent to
Klaviyo under the same key, as a property of every event of the attendee (flows and segments
name it), and, when the organizer maps the question, as a profile property.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.text import format_lazy, slugify
from django.utils.translation import gettext_lazy as _

from parties.models import CHOICE_KINDS, Attendee, Party, Question, QuestionKind

# Every new party starts with these two, as every party asked before questions were its own:
# the same keys, in the CSV and in Klaviyo's profiles, as the fixed fields they replace.
# Their words are written in the party's language when it is made (the organizer edits them
# like any other question's).
STARTER_QUESTIONS: tuple[dict[str, Any], ...] = (
    {"key": "pet_name", "label": _("Pet's name"), "profile_property": "pet_name"},
    {
        "key": "pet_type",
        "label": _("Pet type"),
        "help_text": _("Dog, cat, rabbit, iguana..."),
        "profile_property": "pet_type",
    },
)
MAX_QUESTIONS = 30
MAX_CHOICES = 50
MAX_CHOICE_LENGTH = 200
SHORT_TEXT_MAX = 200
LONG_TEXT_MAX = 2000
# A number answer's bounds: wide enough for any count or amount a party asks about.
NUMBER_LIMIT = Decimal("1000000000")
# Names a key may not take: the form's own fields (a question named "email" would shadow the
# address) and the properties every event already carries (parties.events.catalogue).
RESERVED_KEYS = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "marketing_consent",
        "consent_wording",
        "website",
        "form_token",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "referrer_host",
        "party_id",
        "party_name",
        "starts_at",
        "starts_at_local",
        "ends_at",
        "time_zone",
        "address",
        "address2",
        "city",
        "state",
        "party_url",
        "calendar_url",
        "google_calendar_url",
        "manage_url",
        "place",
        "waitlist_position",
        "attended",
        "csrfmiddlewaretoken",
    }
)
# Klaviyo's own profile attributes (sent as attributes, not properties) and a `$` prefix,
# which marks Klaviyo's special properties: a mapped question must not overwrite them.
KLAVIYO_PROFILE_ATTRIBUTES = frozenset(
    {
        "email",
        "phone_number",
        "external_id",
        "anonymous_id",
        "first_name",
        "last_name",
        "organization",
        "locale",
        "title",
        "image",
        "location",
        "properties",
        "id",
    }
)


class QuestionError(Exception):
    """An organizer's change to the questions that cannot be made, in words they can act on."""


def key_from(text: str) -> str:
    """A key as Klaviyo's flows and a CSV header read best: lowercase ASCII words joined by
    underscores ("Dietary needs?" -> "dietary_needs"), at most 40 characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    key = slugify(ascii_text).replace("-", "_")
    key = re.sub(r"_+", "_", key).strip("_")[:40].strip("_")
    if key and key[0].isdigit():
        key = f"q_{key}"[:40]
    return key


def profile_property_from(text: str) -> str:
    """What Klaviyo accepts as a custom profile property name, from what the organizer typed:
    no `$` (Klaviyo's own), no attribute name, printable, at most 64 characters."""
    name = " ".join(text.split()).lstrip("$").strip()
    name = "".join(ch for ch in name if ch.isprintable() and ch not in "[]'\"")
    return key_from(name) if name else ""


def property_problem(name: str) -> str:
    if not name:
        return ""
    if name in KLAVIYO_PROFILE_ATTRIBUTES:
        return f"“{name}” is one of Klaviyo's own profile fields; choose another name."
    return ""


# --- The form fields ---------------------------------------------------------------------------


class AnswerChoices(forms.MultipleChoiceField):
    """Multiple choice: ticked boxes; an answer already given that is no longer offered stays
    valid (the organizer reworded an option after people picked it)."""

    widget = forms.CheckboxSelectMultiple


def answer_field(question: Question, *, kept: Any = None) -> forms.Field:
    """The form field asking `question`. `kept`: the attendee's current answer (their own page),
    kept valid even when the option it names was since reworded or removed."""
    label = (
        question.label
        if question.required
        else format_lazy(_("{label} (optional)"), label=question.label)
    )
    common: dict[str, Any] = {
        "label": label,
        "required": question.required,
        "help_text": question.help_text,
    }
    kind = question.kind
    if kind == QuestionKind.LONG_TEXT:
        return forms.CharField(
            max_length=LONG_TEXT_MAX,
            widget=forms.Textarea(attrs={"rows": 3}),
            error_messages={"required": _("Answer this question."), "max_length": TOO_LONG},
            **common,
        )
    if kind in CHOICE_KINDS:
        options = list(question.choices)
        for value in kept if isinstance(kept, list) else [kept]:
            if isinstance(value, str) and value and value not in options:
                options.append(value)
        choices = [(option, option) for option in options]
        messages = {
            "required": _("Choose an answer."),
            "invalid_choice": _("Choose one of the options."),
        }
        if kind == QuestionKind.SINGLE_CHOICE:
            if not question.required:
                choices = [("", _("No answer")), *choices]
            return forms.ChoiceField(
                choices=choices, widget=forms.RadioSelect, error_messages=messages, **common
            )
        return AnswerChoices(choices=choices, error_messages=messages, **common)
    if kind == QuestionKind.CHECKBOX:
        # A required box must be ticked (an agreement); an optional one is a yes or a no.
        return forms.BooleanField(
            error_messages={"required": _("Tick this box to sign up.")},
            **{**common, "label": question.label},
        )
    if kind == QuestionKind.NUMBER:
        return forms.DecimalField(
            min_value=-NUMBER_LIMIT,
            max_value=NUMBER_LIMIT,
            max_digits=14,
            decimal_places=2,
            widget=forms.NumberInput(attrs={"step": "any"}),
            error_messages={
                "required": _("Enter a number."),
                "invalid": _("Enter a number, like 2."),
                "max_decimal_places": _("Use at most 2 decimal places."),
                "max_digits": _("Enter a smaller number."),
                "max_value": _("Enter a number up to %(limit_value)s."),
                "min_value": _("Enter a number from %(limit_value)s."),
            },
            **common,
        )
    return forms.CharField(
        max_length=SHORT_TEXT_MAX,
        error_messages={"required": _("Answer this question."), "max_length": TOO_LONG},
        **common,
    )


TOO_LONG = _("Use at most %(limit_value)d characters (this has %(show_value)d).")


def stored_answer(question: Question, value: Any) -> Any:
    """A cleaned form value as it is stored and sent: text stripped, a number as an int when
    whole (Klaviyo compares numbers), a blank as None (no answer)."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [item for item in value if item] or None
    if question.kind == QuestionKind.CHECKBOX:
        return bool(value)
    return value


def answer_text(value: Any) -> str:
    """An answer as a person reads it, whatever the question has become since."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


@dataclass(frozen=True)
class Answer:
    label: str
    text: str
    removed: bool


def answers_shown(attendee: Attendee, questions: list[Question]) -> list[Answer]:
    """The attendee's answers in the questions' order, each under its label (a removed
    question's marked so); answers whose question is gone entirely show under their key."""
    shown = []
    known = set()
    for question in questions:
        known.add(question.key)
        text = answer_text(attendee.answers.get(question.key))
        if text:
            shown.append(Answer(question.label, text, question.is_removed))
    for key, value in attendee.answers.items():
        if key not in known and (text := answer_text(value)):
            shown.append(Answer(key, text, True))
    return shown


# --- Reading them ------------------------------------------------------------------------------


def questions_asked(party: Party) -> list[Question]:
    """The questions the form asks now, in order."""
    return list(party.questions.filter(removed_at__isnull=True))


def questions_all(party: Party) -> list[Question]:
    """Every question with answers to show: the asked ones, then the removed ones."""
    return sorted(party.questions.all(), key=lambda q: (q.is_removed, q.position, q.pk))


def form_version(questions: list[Question]) -> str:
    """What the blank form's cache is keyed by: any change to a question is a new form."""
    return "-".join(f"{q.pk}.{q.updated_at.timestamp():.6f}" for q in questions) or "none"


# --- The organizer's changes -------------------------------------------------------------------


def starter_questions_add(party: Party) -> None:
    with translation.override(party.language):
        Question.objects.bulk_create(
            Question(
                party=party,
                position=position,
                **{name: str(value) for name, value in question.items()},
            )
            for position, question in enumerate(STARTER_QUESTIONS)
        )


def _answered(question: Question) -> bool:
    answers = Attendee.objects.filter(party_id=question.party_id, answers__has_key=question.key)
    return answers.exists()


def question_add(*, party: Party, data: dict[str, Any]) -> Question:
    """Add a question at the end of the form; its key comes from `data["key"]` or the label."""
    key = data.get("key") or key_from(data["label"])
    if not key:
        raise QuestionError("Give the question a key of letters or digits.")
    if key in RESERVED_KEYS:
        raise QuestionError(f"“{key}” is a name the form already uses; choose another key.")
    with transaction.atomic():
        asked = Question.objects.select_for_update().filter(party=party, removed_at__isnull=True)
        if asked.count() >= MAX_QUESTIONS:
            raise QuestionError(f"A form asks at most {MAX_QUESTIONS} questions.")
        position = (party.questions.aggregate(last=Max("position"))["last"] or 0) + 1
        fields = {name: data[name] for name in QUESTION_FIELDS if name in data}
        try:
            with transaction.atomic():
                return Question.objects.create(party=party, key=key, position=position, **fields)
        except IntegrityError:
            raise QuestionError(
                f"This party already has a question with the key “{key}” (perhaps a removed "
                "one, whose answers keep it); choose another."
            ) from None


# What the organizer edits (the key is fixed at creation).
QUESTION_FIELDS = ("kind", "label", "help_text", "required", "choices", "profile_property")


def question_update(*, question: Question, data: dict[str, Any]) -> Question:
    for name in QUESTION_FIELDS:
        if name in data:
            setattr(question, name, data[name])
    question.save()
    return question


def question_move(*, question: Question, by: int) -> None:
    """Swap the question with its neighbour above (`by` -1) or below (+1) among the asked."""
    asked = list(questions_asked(question.party))
    index = next(i for i, q in enumerate(asked) if q.pk == question.pk)
    other = index + by
    if not 0 <= other < len(asked):
        return
    asked[index], asked[other] = asked[other], asked[index]
    with transaction.atomic():
        for position, item in enumerate(asked):
            if item.position != position:
                Question.objects.filter(pk=item.pk).update(
                    position=position, updated_at=timezone.now()
                )


def question_remove(*, question: Question) -> bool:
    """Take the question off the form. Answered, it is kept (removed) so its answers stay
    readable; never answered, it is deleted. Whether it was kept."""
    if _answered(question):
        Question.objects.filter(pk=question.pk, removed_at__isnull=True).update(
            removed_at=timezone.now(), updated_at=timezone.now()
        )
        return True
    question.delete()
    return False


def question_restore(*, question: Question) -> None:
    """Put a removed question back at the end of the form."""
    if len(questions_asked(question.party)) >= MAX_QUESTIONS:
        raise QuestionError(f"A form asks at most {MAX_QUESTIONS} questions: remove one first.")
    last = question.party.questions.aggregate(last=Max("position"))["last"] or 0
    Question.objects.filter(pk=question.pk).update(
        removed_at=None, position=last + 1, updated_at=timezone.now()
    )


def questions_copy(*, source: Party, target: Party) -> None:
    """The questions `source` asks, asked by `target` too (a duplicated party)."""
    Question.objects.bulk_create(
        Question(
            party=target,
            key=question.key,
            position=position,
            **{name: getattr(question, name) for name in QUESTION_FIELDS},
        )
        for position, question in enumerate(questions_asked(source))
    )


def profile_properties(attendee: Attendee, mapped: list[Question]) -> dict[str, Any]:
    """The attendee's answers to the mapped questions, under their profile property names."""
    return {
        question.profile_property: attendee.answers[question.key]
        for question in mapped
        if question.profile_property and attendee.answers.get(question.key) is not None
    }


def mapped_questions(party_id: int) -> list[Question]:
    return list(Question.objects.filter(party_id=party_id).exclude(profile_property=""))


def answers_from_form(questions: list[Question], cleaned: dict[str, Any]) -> dict[str, Any]:
    """The cleaned answers of a form, stored shape, blanks left out."""
    answers = {}
    for question in questions:
        if question.key in cleaned:
            value = stored_answer(question, cleaned[question.key])
            if value is not None and not (question.kind == QuestionKind.CHECKBOX and not value):
                answers[question.key] = value
    return answers
