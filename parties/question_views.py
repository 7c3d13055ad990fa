"""The organizer's page for a party's signup questions: add, edit, reorder, remove."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.tenancy import OrganizationRequest, get_for_org_or_404, manager_required
from parties import questions
from parties.forms import QuestionForm
from parties.models import Party, Question


def _party(request: OrganizationRequest, pk: int) -> Party:
    return get_for_org_or_404(Party.objects.all(), organization=request.organization, pk=pk)


def _question(request: OrganizationRequest, pk: int, question_pk: int) -> Question:
    return get_object_or_404(Question, party=_party(request, pk), pk=question_pk)


@manager_required
@require_http_methods(["GET", "POST"])
def question_list(request: OrganizationRequest, pk: int) -> HttpResponse:
    """The form's questions in order, and a form to add one (POST adds it)."""
    party = _party(request, pk)
    form = QuestionForm(request.POST if request.method == "POST" else None, creating=True)
    if request.method == "POST" and form.is_valid():
        try:
            question = questions.question_add(party=party, data=form.question_data)
        except questions.QuestionError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                f"Added “{question.label}”. Its answers go to Klaviyo as {question.key}.",
            )
            return redirect("parties:question_list", pk=party.pk)
    asked = questions.questions_asked(party)
    context = {
        "party": party,
        "form": form,
        "asked": asked,
        "removed": [q for q in questions.questions_all(party) if q.is_removed],
        "max_questions": questions.MAX_QUESTIONS,
    }
    return render(request, "parties/questions.html", context, status=400 if form.errors else 200)


@manager_required
@require_http_methods(["GET", "POST"])
def question_edit(request: OrganizationRequest, pk: int, question_pk: int) -> HttpResponse:
    question = _question(request, pk, question_pk)
    form = QuestionForm(
        request.POST if request.method == "POST" else None,
        initial=QuestionForm.initial_for(question),
        creating=False,
    )
    if request.method == "POST" and form.is_valid():
        questions.question_update(question=question, data=form.question_data)
        messages.success(request, f"Saved “{question.label}”.")
        return redirect("parties:question_list", pk=pk)
    context = {"party": question.party, "question": question, "form": form}
    return render(
        request, "parties/question_form.html", context, status=400 if form.errors else 200
    )


@manager_required
@require_POST
def question_move(request: OrganizationRequest, pk: int, question_pk: int) -> HttpResponse:
    question = _question(request, pk, question_pk)
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        messages.error(request, "Choose whether to move the question up or down.")
    else:
        questions.question_move(question=question, by=-1 if direction == "up" else 1)
    return redirect("parties:question_list", pk=pk)


@manager_required
@require_POST
def question_remove(request: OrganizationRequest, pk: int, question_pk: int) -> HttpResponse:
    question = _question(request, pk, question_pk)
    if questions.question_remove(question=question):
        messages.success(
            request,
            f"Removed “{question.label}” from the form. People's answers to it stay on the "
            "party page and in the CSV; you can put it back.",
        )
    else:
        messages.success(request, f"Deleted “{question.label}” (nobody had answered it).")
    return redirect("parties:question_list", pk=pk)


@manager_required
@require_POST
def question_restore(request: OrganizationRequest, pk: int, question_pk: int) -> HttpResponse:
    question = _question(request, pk, question_pk)
    try:
        questions.question_restore(question=question)
    except questions.QuestionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"“{question.label}” is back on the form, at the end.")
    return redirect("parties:question_list", pk=pk)
