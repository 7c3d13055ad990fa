"""An attendee's answers, read in their questions' order and words."""

from __future__ import annotations

from django import template

from parties.models import Attendee, Question
from parties.questions import Answer, answers_shown

register = template.Library()


@register.simple_tag
def answers_of(attendee: Attendee, questions: list[Question]) -> list[Answer]:
    return answers_shown(attendee, questions)
