"""Erasure on request: an erased person's data is gone from every table, their unsent events
are dropped, they leave the parties' Klaviyo lists, the counts stay, and the audit keeps no
address. Against the sandbox, through the real sync."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.db import models
from django.urls import reverse
from django.utils import timezone

from klaviyo_sandbox import testing
from parties import questions
from parties import services as party_services
from parties.models import Attendee, Party, PartyEvent, PartyMetric, Place, SyncState
from privacy import erasure, services
from privacy.models import KlaviyoDeletion, PrivacyRecord, RequestKind
from tests.support.parties import PARTY
from tests.support.signups import signup
from tests.support.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])

PERSON = "Zoe.Erased@Example.com"
ADDRESS = "zoe.erased@example.com"


@pytest.fixture(autouse=True)
def no_window(settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


@pytest.fixture
def parties(owner, sandbox, sandbox_connection) -> list[Party]:
    connection = sandbox_connection(owner.organization)
    made = []
    for name, capacity in (("Howl-o-ween", 1), ("Bark in the Park", None)):
        party = party_services.party_create(
            membership=owner,
            connection=connection,
            data={**PARTY, "name": name, "capacity": capacity, "waitlist_enabled": True},
        )
        made.append(party)
    run_queued_tasks()
    for party in made:
        party.refresh_from_db()
    return made


def text_rows_holding(needle: str) -> list[str]:
    """Every row of every model in the product's database with a text field holding
    `needle` (case-insensitive), named `Model.field #pk`."""
    found = []
    for model in apps.get_models():
        if model._meta.app_label == "klaviyo_sandbox":
            continue  # Klaviyo's side, in its own database
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField | models.JSONField):
                lookup = {f"{field.attname}__icontains": needle}
                for pk in model._default_manager.filter(**lookup).values_list("pk", flat=True):
                    found.append(f"{model.__name__}.{field.name} #{pk}")
    return found


def test_an_erased_person_is_gone_from_every_table_and_from_the_lists(owner, parties):
    howl, bark = parties
    # The party's own questions: their answers are personal data too.
    questions.question_add(party=howl, data={"label": "Allergies", "kind": "long_text"})
    diet = questions.question_add(
        party=howl,
        data={"label": "Diet", "kind": "multiple_choice", "choices": ["Vegan", "Pescatarian"]},
    )
    signup(
        howl,
        PERSON,
        last_name="Erasedsson",
        pet_name="Fluffernutter",
        allergies="Snapdragonitis",
        diet=["Pescatarian"],
        # Where they came from is theirs too (a campaign sent to one person names them).
        utm_campaign="zoe-personal-invite",
        referrer_host="zoes-blog.example",
    )
    signup(howl, "next@example.com")  # waitlisted behind them
    signup(bark, PERSON, last_name="Erasedsson")
    run_queued_tasks(include_deferred=True)
    assert testing.profile(ADDRESS)["lists"] == sorted([howl.klaviyo_list_id, bark.klaviyo_list_id])
    assert text_rows_holding(ADDRESS)  # the scan finds them before
    # Their answers: in the attendee row and in their event's properties.
    assert len(text_rows_holding("Snapdragonitis")) == 2
    assert text_rows_holding("zoes-blog")

    done = services.person_erase(organization=owner.organization, email=PERSON, actor=owner.user)
    run_queued_tasks(include_deferred=True)
    erasure.erasures_finish()

    assert done.registrations == 2
    # The option they picked stays the question's, and is nobody's answer any more.
    assert text_rows_holding("Pescatarian") == [f"Question.choices #{diet.pk}"]
    for needle in (
        ADDRESS,
        "Erasedsson",
        "Fluffernutter",
        "Snapdragonitis",
        "zoe-personal-invite",
        "zoes-blog",
    ):
        assert text_rows_holding(needle) == [], needle
    # Out of both lists in Klaviyo; the profile itself stays (the organizer's to delete).
    assert testing.profile(ADDRESS)["lists"] == []
    # The counts stay: two rows per party, now tombstones.
    assert Attendee.objects.filter(party=howl).count() == 2
    # Their place went to the next person, and nobody was emailed about the erasure.
    assert Attendee.objects.get(email="next@example.com").place == Place.REGISTERED
    assert not PartyEvent.objects.filter(
        metric=PartyMetric.REGISTRATION_CANCELLED, attendee__erased_at__isnull=False
    ).exists()


def test_unsent_events_are_dropped_and_sent_ones_keep_only_their_counts(owner, parties):
    howl = parties[0]
    attendee = signup(howl, PERSON)
    sent = PartyEvent.objects.get(attendee=attendee)
    PartyEvent.objects.filter(pk=sent.pk).update(state="sent")
    waiting = PartyEvent.objects.create(
        connection=howl.connection,
        party=howl,
        attendee=attendee,
        metric=PartyMetric.STARTING_SOON,
        unique_id="reminder-1",
        occurred_at=timezone.now(),
        email=ADDRESS,
        properties={"pet_name": "Rex"},
    )

    done = services.person_erase(organization=owner.organization, email=PERSON, actor=None)

    assert done.events_dropped == 1
    assert not PartyEvent.objects.filter(pk=waiting.pk).exists()
    sent.refresh_from_db()
    assert (sent.metric, sent.state) == (PartyMetric.REGISTERED, "sent")
    assert (sent.email, sent.first_name, sent.properties) == ("", "", {})


def test_the_old_private_link_stops_working(client, owner, parties):
    attendee = signup(parties[0], PERSON)
    link = reverse("parties:attendee_manage", args=[attendee.manage_token])

    services.person_erase(organization=owner.organization, email=PERSON, actor=None)

    assert client.get(link).status_code == 404


def test_the_audit_recognises_a_repeated_request_without_the_address(owner, parties):
    signup(parties[0], PERSON)
    run_queued_tasks(include_deferred=True)  # in the list: the address waits for the removal
    services.person_erase(organization=owner.organization, email=PERSON, actor=owner.user)
    services.person_erase(organization=owner.organization, email=ADDRESS, actor=owner.user)

    first, second = PrivacyRecord.objects.order_by("pk")
    assert (first.records, second.records) == (1, 0)  # nothing left the second time
    assert first.email_digest == second.email_digest
    assert first.email_digest == erasure.email_digest(
        organization=owner.organization, email=ADDRESS
    )
    # The audit holds no address, in any of its fields.
    for record in PrivacyRecord.objects.values():
        assert not any("zoe" in str(value).lower() for value in record.values()), record


def test_the_same_address_elsewhere_is_another_fingerprint(owner, make_org):
    other = make_org()

    assert erasure.email_digest(organization=owner.organization, email=ADDRESS) != (
        erasure.email_digest(organization=other, email=ADDRESS)
    )


def test_another_organizations_registrations_are_untouched(owner, parties, make_party):
    stranger = make_party(name="Elsewhere")
    theirs = signup(stranger, PERSON)

    services.person_erase(organization=owner.organization, email=PERSON, actor=None)

    theirs.refresh_from_db()
    assert theirs.erased_at is None
    assert theirs.email == ADDRESS


def test_an_address_klaviyo_never_confirms_out_of_the_list_goes_after_a_week(owner, parties):
    attendee = signup(parties[0], PERSON)
    run_queued_tasks(include_deferred=True)
    services.person_erase(organization=owner.organization, email=PERSON, actor=None)
    # Klaviyo never answers: the sync cannot show them out of the list.
    Attendee.objects.filter(pk=attendee.pk).update(sync_state=SyncState.SENT)

    assert erasure.erasures_finish() == 0
    later = timezone.now() + erasure.REMOVAL_WAIT + timedelta(minutes=1)
    assert erasure.erasures_finish(now=later) == 1

    attendee.refresh_from_db()
    assert attendee.email.endswith("@erased.invalid")
    assert attendee.sync_state == SyncState.FAILED
    assert "remove them there by hand" in attendee.state_reason
    assert not attendee.retry_can_help


def test_an_owner_erases_from_the_personal_data_page(login, owner, parties):
    signup(parties[0], PERSON)
    client = login(owner)

    found = client.post(reverse("privacy:person_find"), {"email": PERSON})
    refused = client.post(reverse("privacy:person_erase"), {"email": PERSON})
    erased = client.post(reverse("privacy:person_erase"), {"email": PERSON, "confirm": "on"})

    assert "Howl-o-ween" in found.text
    assert refused.status_code == 400  # not confirmed: nothing erased
    assert erased.status_code == 200
    assert "Erased 1 registration" in erased.text
    assert Attendee.objects.get().erased_at is not None
    record = PrivacyRecord.objects.get()
    assert (record.kind, record.actor) == (RequestKind.ERASURE, owner.user)


def test_a_plain_member_cannot_find_or_erase(login, make_member, owner, parties):
    signup(parties[0], PERSON)
    member = make_member(role="member", organization=owner.organization)

    client = login(member)

    assert client.post(reverse("privacy:person_find"), {"email": PERSON}).status_code == 403
    erase = {"email": PERSON, "confirm": "on"}
    assert client.post(reverse("privacy:person_erase"), erase).status_code == 403
    assert Attendee.objects.get().erased_at is None


def test_the_address_never_reaches_a_url(login, owner, parties):
    page = login(owner).get(reverse("privacy:person_find")).text

    assert 'method="post"' in page
    assert 'method="get"' not in page


def test_with_the_option_klaviyo_is_asked_to_delete_the_profile(login, owner, parties):
    owner.organization.klaviyo_deletion_enabled = True
    owner.organization.save()
    signup(parties[0], PERSON)
    run_queued_tasks(include_deferred=True)
    assert testing.profile(ADDRESS) is not None
    client = login(owner)

    page = client.post(reverse("privacy:person_find"), {"email": PERSON}).text
    erased = client.post(
        reverse("privacy:person_erase"), {"email": PERSON, "confirm": "on", "klaviyo_delete": "on"}
    )
    run_queued_tasks(include_deferred=True)
    testing.advance(60)  # Klaviyo runs the deletion job later

    assert "deletes the person from the whole Klaviyo account" in page
    assert "Deletion of their Klaviyo profile requested at" in erased.text
    assert testing.profile(ADDRESS) is None
    deletion = KlaviyoDeletion.objects.get()
    assert deletion.sent_at is not None
    assert deletion.email is None  # kept only until Klaviyo accepted the request
    record = PrivacyRecord.objects.get(kind=RequestKind.KLAVIYO_DELETION)
    assert record.email_digest == erasure.email_digest(
        organization=owner.organization, email=ADDRESS
    )
    services_erase_again = client.post(reverse("privacy:person_find"), {"email": PERSON})
    assert "Klaviyo accepted it at" in services_erase_again.text


def test_without_the_option_klaviyo_is_never_asked(login, owner, parties):
    signup(parties[0], PERSON)
    run_queued_tasks(include_deferred=True)
    client = login(owner)

    page = client.post(reverse("privacy:person_find"), {"email": PERSON}).text
    client.post(
        reverse("privacy:person_erase"), {"email": PERSON, "confirm": "on", "klaviyo_delete": "on"}
    )
    run_queued_tasks(include_deferred=True)
    testing.advance(60)

    assert "klaviyo_delete" not in page
    assert not KlaviyoDeletion.objects.exists()
    assert testing.profile(ADDRESS) is not None


def test_signing_up_again_after_erasing_is_a_new_registration(owner, parties):
    bark = parties[1]
    signup(bark, PERSON, last_name="Erasedsson")
    run_queued_tasks(include_deferred=True)  # in the list: the tombstone keeps the address
    services.person_erase(organization=owner.organization, email=PERSON, actor=None)
    tombstone = Attendee.objects.get(party=bark)

    again = signup(bark, PERSON, first_name="Zoe")
    run_queued_tasks(include_deferred=True)
    erasure.erasures_finish()

    assert again.pk != tombstone.pk
    again.refresh_from_db()
    tombstone.refresh_from_db()
    assert (again.place, again.erased_at, again.last_name) == (Place.REGISTERED, None, "")
    assert again.sync_state == SyncState.SYNCED
    assert testing.profile(ADDRESS)["lists"] == [bark.klaviyo_list_id]
    assert tombstone.email.endswith("@erased.invalid")
    assert tombstone.erased_at is not None


def test_where_they_came_from_is_erased_with_them(owner, parties):
    howl = parties[0]
    attendee = signup(
        howl,
        PERSON,
        utm_source="zoes-blog",
        utm_medium="affiliate",
        utm_campaign="zoe-erasedsson-2026",
        referrer_host="zoe-erasedsson.example",
    )
    assert PartyEvent.objects.get(attendee=attendee).properties["utm_source"] == "zoes-blog"

    services.person_erase(organization=owner.organization, email=PERSON, actor=None)

    attendee.refresh_from_db()
    assert (attendee.utm_source, attendee.utm_medium, attendee.utm_campaign) == ("", "", "")
    assert attendee.referrer_host == ""
    for needle in ("zoes-blog", "zoe-erasedsson"):
        assert text_rows_holding(needle) == [], needle
