"""A party's own signup questions: each kind validated on the public form, the answers stored,
shown, exported and sent to Klaviyo (event properties, and profile properties when mapped),
and the organizer's changes, which never make an answer unreadable."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from klaviyo_sandbox import testing
from klaviyo_sandbox.models import Event as SandboxEvent
from parties import questions, services
from parties.events import events_send
from parties.models import Attendee, Party, Question, QuestionKind
from tests.support.parties import PARTY
from tests.support.signups import FORM, post_signup, signup
from tests.support.workers import run_queued_tasks

SIZES = ["XS", "S", "M", "L", "XL"]
DIETS = ["Vegetarian", "Vegan", "Gluten-free"]


def ask(party: Party, key: str, kind: str, **fields: object) -> Question:
    data = {"key": key, "label": key.replace("_", " ").capitalize(), "kind": kind, **fields}
    return questions.question_add(party=party, data=data)


def every_kind(party: Party) -> None:
    ask(party, "shirt_size", QuestionKind.SINGLE_CHOICE, choices=SIZES, required=True)
    ask(party, "diet", QuestionKind.MULTIPLE_CHOICE, choices=DIETS)
    ask(party, "dogs", QuestionKind.NUMBER, required=True)
    ask(party, "bringing_a_dish", QuestionKind.CHECKBOX)
    ask(party, "house_rules", QuestionKind.CHECKBOX, required=True)
    ask(party, "story", QuestionKind.LONG_TEXT)


GOOD = {
    "shirt_size": "M",
    "diet": ["Vegan", "Gluten-free"],
    "dogs": "2",
    "bringing_a_dish": "on",
    "house_rules": "on",
    "story": "  We met at the park.  ",
}


# --- The public form ---------------------------------------------------------------------------


def test_every_kind_of_answer_is_stored_in_its_own_shape(client, make_party):
    party = make_party()
    every_kind(party)
    response = post_signup(client, party, **GOOD)
    assert response.status_code == 303
    assert Attendee.objects.get().answers == {
        "pet_name": "Rex",
        "pet_type": "dog",
        "shirt_size": "M",
        "diet": ["Vegan", "Gluten-free"],
        "dogs": 2,
        "bringing_a_dish": True,
        "house_rules": True,
        "story": "We met at the park.",
    }


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"shirt_size": ""}, "shirt_size", "Choose an answer."),
        ({"shirt_size": "XXXL"}, "shirt_size", "Choose one of the options."),
        ({"diet": ["Carnivore"]}, "diet", "Choose one of the options."),
        ({"dogs": ""}, "dogs", "Enter a number."),
        ({"dogs": "two"}, "dogs", "Enter a number, like 2."),
        ({"dogs": "1.234"}, "dogs", "Use at most 2 decimal places."),
        ({"dogs": "99999999999"}, "dogs", "Enter a number up to 1000000000."),
        ({"house_rules": ""}, "house_rules", "Tick this box to sign up."),
        ({"story": "x" * 2001}, "story", "Use at most 2000 characters (this has 2001)."),
    ],
)
def test_each_kind_is_checked_on_the_server_and_the_form_comes_back_as_typed(
    client, make_party, changes, field, message
):
    party = make_party()
    every_kind(party)
    response = post_signup(client, party, **{**GOOD, **changes})
    assert response.status_code == 400
    assert not Attendee.objects.exists()
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert errors[field] == [message]
    page = response.content.decode()
    # What they typed elsewhere is kept on the refused form.
    assert re.search(r'value="Vegan"[^>]* checked', page) or field == "diet"
    assert "We met at the park." in page or field == "story"


def test_optional_answers_left_blank_are_not_stored(client, make_party):
    party = make_party()
    every_kind(party)
    blank = {"pet_name": "", "pet_type": "", "diet": [], "bringing_a_dish": "", "story": " "}
    post_signup(client, party, **{**GOOD, **blank})
    assert Attendee.objects.get().answers == {"shirt_size": "M", "dogs": 2, "house_rules": True}


def test_the_form_asks_the_questions_in_their_order_with_their_help(client, make_party):
    party = make_party()
    ask(party, "diet", QuestionKind.MULTIPLE_CHOICE, choices=DIETS, help_text="Tick any")
    page = client.get(reverse("parties:signup", args=[party.slug])).content.decode()
    order = [page.index(f'name="{name}"') for name in ("email", "pet_name", "pet_type", "diet")]
    assert order == sorted(order)
    assert "Diet (optional)" in page
    assert "Tick any" in page


def test_the_cached_blank_form_shows_a_question_the_moment_it_is_added(client, make_party):
    party = make_party()
    url = reverse("parties:signup", args=[party.slug])
    assert 'name="shirt_size"' not in client.get(url).content.decode()
    ask(party, "shirt_size", QuestionKind.SINGLE_CHOICE, choices=SIZES)
    assert 'name="shirt_size"' in client.get(url).content.decode()
    question = Question.objects.get(key="shirt_size")
    questions.question_update(question=question, data={"label": "T-shirt size"})
    assert "T-shirt size" in client.get(url).content.decode()


# --- Klaviyo -----------------------------------------------------------------------------------


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_answers_reach_klaviyo_as_event_properties_and_mapped_ones_as_profile_properties(
    sandbox_party, settings
):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0
    party = sandbox_party
    every_kind(party)
    # Mapped under a name the organizer typed loosely: sanitised to what Klaviyo takes.
    question = Question.objects.get(key="shirt_size")
    questions.question_update(
        question=question, data={"profile_property": questions.profile_property_from("$Shirt Size")}
    )
    assert question.profile_property == "shirt_size"
    signup(
        party,
        pet_name="Rex",
        shirt_size="M",
        diet=["Vegan", "Gluten-free"],
        dogs=2,
        bringing_a_dish=True,
    )
    run_queued_tasks()
    events_send(connection_id=party.connection_id)

    [member] = testing.list_members(party.klaviyo_list_id)
    # The mapped ones only: the pet name (a starter question, mapped) and the shirt size.
    assert member["properties"] == {"pet_name": "Rex", "shirt_size": "M"}
    event = SandboxEvent.objects.using("sandbox").get(metric__name="Registered for Party")
    assert {key: event.properties[key] for key in ("pet_name", "shirt_size", "diet", "dogs")} == {
        "pet_name": "Rex",
        "shirt_size": "M",
        "diet": "Vegan, Gluten-free",
        "dogs": 2,
    }
    assert event.properties["bringing_a_dish"] is True
    assert "story" not in event.properties  # not answered: not sent


# --- The organizer's page ----------------------------------------------------------------------


@pytest.fixture
def party(owner, make_party) -> Party:
    return make_party(owner.organization)


@pytest.fixture
def owner_client(login, owner):
    return login(owner)


@pytest.fixture
def member_client(login, owner, make_member):
    return login(make_member(role=Role.MEMBER, organization=owner.organization))


def page_url(party: Party) -> str:
    return reverse("parties:question_list", args=[party.pk])


def test_an_organizer_adds_a_choice_question_and_its_key_comes_from_the_label(owner_client, party):
    response = owner_client.post(
        page_url(party),
        {"label": "T-shirt size?", "kind": "single_choice", "choices": "S\nM\n\n M \nL"},
    )
    assert response.status_code == 302
    question = party.questions.get(key="t_shirt_size")
    # Blank lines and repeats dropped.
    assert question.choices == ["S", "M", "L"]
    assert question.position == 2
    page = owner_client.get(page_url(party)).content.decode()
    assert "T-shirt size?" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"label": "Size", "kind": "single_choice", "choices": "S"}, "choices", "at least two"),
        ({"label": "Mail", "kind": "short_text", "key": "email"}, "key", "already uses"),
        ({"label": "Mail", "kind": "short_text", "key": "Bad Key"}, "key", "like bad_key"),
        ({"label": "???", "kind": "short_text"}, "key", "letters or digits"),
        (
            {"label": "Mail", "kind": "short_text", "profile_property": "first_name"},
            "profile_property",
            "Klaviyo's own profile fields",
        ),
    ],
)
def test_a_question_that_cannot_work_is_refused_with_a_reason(
    owner_client, party, data, field, message
):
    response = owner_client.post(page_url(party), data)
    assert response.status_code == 400
    assert message in str(response.context["form"].errors[field]).replace("&#x27;", "'")
    assert party.questions.count() == 2


def test_two_questions_cannot_share_a_key(owner_client, party):
    response = owner_client.post(
        page_url(party), {"label": "Pet's name", "kind": "short_text", "key": "pet_name"}
    )
    assert response.status_code == 400
    assert "already has a question with the key" in response.content.decode()


def test_questions_move_up_and_down(owner_client, party):
    ask(party, "diet", QuestionKind.LONG_TEXT)
    diet = party.questions.get(key="diet")
    move = reverse("parties:question_move", args=[party.pk, diet.pk])
    owner_client.post(move, {"direction": "up"})
    assert [q.key for q in questions.questions_asked(party)] == ["pet_name", "diet", "pet_type"]
    owner_client.post(
        reverse("parties:question_move", args=[party.pk, diet.pk]), {"direction": "down"}
    )
    assert [q.key for q in questions.questions_asked(party)] == ["pet_name", "pet_type", "diet"]


def test_a_question_changed_or_removed_after_people_answered_keeps_their_answers_readable(
    owner_client, party, make_attendee
):
    ask(party, "shirt_size", QuestionKind.SINGLE_CHOICE, choices=SIZES)
    make_attendee(party, "ann@example.com", shirt_size="XL", pet_name="Rex")
    size = party.questions.get(key="shirt_size")
    edit = reverse("parties:question_edit", args=[party.pk, size.pk])
    response = owner_client.post(
        edit, {"label": "Size of shirt", "kind": "single_choice", "choices": "S\nM"}
    )
    assert response.status_code == 302
    size.refresh_from_db()
    assert (size.key, size.label, size.choices) == ("shirt_size", "Size of shirt", ["S", "M"])

    owner_client.post(reverse("parties:question_remove", args=[party.pk, size.pk]))
    size.refresh_from_db()
    assert size.is_removed  # answered: kept, off the form
    unanswered = party.questions.get(key="pet_type")
    owner_client.post(reverse("parties:question_remove", args=[party.pk, unanswered.pk]))
    assert not party.questions.filter(key="pet_type").exists()  # nobody answered: gone

    detail = owner_client.get(reverse("parties:party_detail", args=[party.pk])).content.decode()
    assert "Size of shirt (removed):" in detail
    assert "XL" in detail
    signup_page = owner_client.get(reverse("parties:signup", args=[party.slug])).content.decode()
    assert 'name="shirt_size"' not in signup_page

    rows = list(csv.reader(io.StringIO(csv_text(owner_client, party))))
    assert rows[0][:5] == ["email", "first_name", "last_name", "pet_name", "shirt_size"]
    assert rows[1][3:5] == ["Rex", "XL"]

    owner_client.post(reverse("parties:question_restore", args=[party.pk, size.pk]))
    assert [q.key for q in questions.questions_asked(party)] == ["pet_name", "shirt_size"]


def csv_text(client, party: Party) -> str:
    response = client.get(reverse("parties:attendees_csv", args=[party.pk]))
    return b"".join(response.streaming_content).decode("utf-8-sig")


def test_an_attendee_keeps_an_answer_whose_option_was_renamed_and_changes_the_rest(client, party):
    ask(party, "diet", QuestionKind.MULTIPLE_CHOICE, choices=DIETS)
    ann = signup(party, "ann@example.com", diet=["Vegan"], pet_name="Rex")
    question = party.questions.get(key="diet")
    questions.question_update(question=question, data={"choices": ["Vegetarian", "Plant-based"]})
    url = reverse("parties:attendee_manage", args=[ann.manage_token])
    page = client.get(url).content.decode()
    assert re.search(r'value="Vegan"[^>]* checked', page)  # still theirs, still valid
    # They clear the pet name and tick a second diet option.
    response = client.post(
        url, {"first_name": "Ann", "pet_name": "", "diet": ["Vegan", "Plant-based"]}
    )
    assert response.status_code == 303
    ann.refresh_from_db()
    assert ann.answers == {"diet": ["Vegan", "Plant-based"]}


def test_an_answer_to_a_removed_question_survives_the_attendee_editing_their_page(client, party):
    ask(party, "shirt_size", QuestionKind.SHORT_TEXT)
    ann = signup(party, "ann@example.com", shirt_size="M")
    questions.question_remove(question=party.questions.get(key="shirt_size"))
    url = reverse("parties:attendee_manage", args=[ann.manage_token])
    client.post(url, {"first_name": "Annie", "pet_name": "Rex"})
    ann.refresh_from_db()
    assert ann.answers == {"shirt_size": "M", "pet_name": "Rex"}


def test_another_organizations_questions_are_not_found(owner_client, make_party, make_org):
    theirs = make_party(make_org("Other"))
    question = theirs.questions.first()
    assert question is not None
    for url in (
        page_url(theirs),
        reverse("parties:question_edit", args=[theirs.pk, question.pk]),
    ):
        assert owner_client.get(url).status_code == 404
    remove = reverse("parties:question_remove", args=[theirs.pk, question.pk])
    assert owner_client.post(remove).status_code == 404
    assert theirs.questions.count() == 2


def test_members_who_cannot_manage_cannot_change_questions(member_client, owner, make_party):
    party = make_party(owner.organization)
    response = member_client.post(page_url(party), {"label": "Size", "kind": "short_text"})
    assert response.status_code == 403
    assert party.questions.count() == 2


# --- Duplicating a party -----------------------------------------------------------------------


def test_a_duplicated_party_has_the_questions_capacity_and_settings_and_nobody_in_it(
    owner_client, owner, make_party
):
    source = make_party(
        owner.organization,
        name="Monthly howl",
        capacity=40,
        waitlist_enabled=False,
        claim_window_hours=12,
        reminder_hours=[24],
        description="Bring treats.",
        opt_in_process="double_opt_in",
    )
    ask(source, "shirt_size", QuestionKind.SINGLE_CHOICE, choices=SIZES, profile_property="size")
    questions.question_remove(question=source.questions.get(key="pet_type"))  # not answered
    signup(source, "ann@example.com")
    url = reverse("parties:party_duplicate", args=[source.pk])

    page = owner_client.get(url)
    assert page.status_code == 200
    form = page.context["form"]
    assert form.initial["name"] == "Monthly howl (copy)"
    assert form.initial["capacity"] == 40
    assert "its 2 signup questions come with it" in page.content.decode()

    data = {
        **{key: value for key, value in form.initial.items() if value is not None},
        "starts_at": "2031-05-01T18:00",
        "reminder_hours": "24",
        "opt_in_process": "double_opt_in",
    }
    data.pop("ends_at", None)
    data["waitlist_enabled"] = ""
    response = owner_client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    copy = Party.objects.exclude(pk=source.pk).get()
    assert copy.name == "Monthly howl (copy)"
    assert (copy.capacity, copy.waitlist_enabled, copy.claim_window_hours) == (40, False, 12)
    assert (copy.reminder_hours, copy.description) == ([24], "Bring treats.")
    assert copy.opt_in_process == "double_opt_in"
    assert copy.slug != source.slug
    assert copy.klaviyo_list_id == ""  # its own list, made by its own sync
    assert not copy.attendees.exists()
    assert [
        (q.key, q.kind, q.choices, q.profile_property, q.position)
        for q in questions.questions_asked(copy)
    ] == [
        ("pet_name", "short_text", [], "pet_name", 0),
        ("shirt_size", "single_choice", SIZES, "size", 1),
    ]


def test_a_new_party_starts_with_the_pet_questions(owner, make_connection):
    party = services.party_create(
        membership=owner, connection=make_connection(owner.organization), data=PARTY
    )
    assert [(q.key, q.label) for q in questions.questions_asked(party)] == [
        ("pet_name", "Pet's name"),
        ("pet_type", "Pet type"),
    ]


def test_the_signup_form_still_takes_the_old_field_names(client, make_party):
    # Links and scripts posting the form as it was keep working: the keys are the same.
    party = make_party()
    assert FORM["pet_name"] == "Rex"
    post_signup(client, party)
    assert Attendee.objects.get().answers == {"pet_name": "Rex", "pet_type": "dog"}


def test_the_service_refuses_a_key_the_form_or_the_events_already_use(make_party):
    party = make_party()
    for key in ("email", "manage_url", "party_name"):
        with pytest.raises(questions.QuestionError, match="already uses"):
            questions.question_add(party=party, data={"label": "x", "key": key})
    assert party.questions.count() == 2


def test_a_form_asks_at_most_its_limit_even_when_a_question_is_put_back(party, settings):
    for number in range(questions.MAX_QUESTIONS - 2):
        ask(party, f"q{number}", QuestionKind.SHORT_TEXT)
    with pytest.raises(questions.QuestionError, match="at most"):
        ask(party, "one_more", QuestionKind.SHORT_TEXT)
    first = party.questions.get(key="q0")
    Question.objects.filter(pk=first.pk).update(removed_at=timezone.now())
    ask(party, "one_more", QuestionKind.SHORT_TEXT)
    with pytest.raises(questions.QuestionError, match="remove one first"):
        questions.question_restore(question=first)
