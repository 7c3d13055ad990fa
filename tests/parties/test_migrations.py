"""Migrations that change existing rows, run against rows made at the migration before."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import Organization
from integrations.models import KlaviyoConnection

BEFORE = [("parties", "0006_event_sender_recorded_counts")]
AFTER = [("parties", "0007_capacity_waitlist_manage_link")]


@pytest.mark.django_db(transaction=True)
def test_earlier_signups_get_their_own_links_and_parties_count_their_seats():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    # Other apps' tables are at their newest: their rows are made with today's models.
    organization = Organization.objects.create(name="Acme")
    connection_row = KlaviyoConnection.objects.create(
        organization=organization, klaviyo_account_id="A1", public_api_key="A1"
    )
    party = old.get_model("parties", "Party").objects.create(
        organization_id=organization.pk,
        connection_id=connection_row.pk,
        name="Howl",
        starts_at=timezone.now(),
        address="1 Bark St",
        city="Boston",
        state="MA",
    )
    Attendee = old.get_model("parties", "Attendee")
    for number in range(3):
        Attendee.objects.create(
            party=party,
            email=f"guest{number}@example.com",
            first_name="Guest",
            consented_at=timezone.now(),
            consent_source="form",
        )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps

    attendees = new.get_model("parties", "Attendee").objects.all()
    tokens = {attendee.manage_token for attendee in attendees}
    assert len(tokens) == 3
    assert all(len(token) >= 32 for token in tokens)
    assert {attendee.place for attendee in attendees} == {"registered"}
    assert new.get_model("parties", "Party").objects.get().seats_taken == 3
    # Back to the newest state for the tests that follow.
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_earlier_signups_keep_the_consent_they_gave_and_the_words_they_saw():
    before = [("parties", "0010_attendee_refused_as_sent")]
    after = [("parties", "0011_consent_records")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    organization = Organization.objects.create(name="Acme")
    quiet = Organization.objects.create(name="No signups yet")
    connection_row = KlaviyoConnection.objects.create(
        organization=organization, klaviyo_account_id="A1", public_api_key="A1"
    )
    party = old.get_model("parties", "Party").objects.create(
        organization_id=organization.pk,
        connection_id=connection_row.pk,
        name="Howl",
        starts_at=timezone.now(),
        address="1 Bark St",
        city="Boston",
        state="MA",
    )
    for number in range(2):
        old.get_model("parties", "Attendee").objects.create(
            party=party,
            email=f"guest{number}@example.com",
            first_name="Guest",
            consented_at=timezone.now(),
            consent_source="Partyline signup page for Howl",
        )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    new = executor.loader.project_state(after).apps

    wording = new.get_model("parties", "ConsentWording").objects.get()
    assert (wording.organization_id, wording.version) == (organization.pk, 1)
    # The one box the form had, which every earlier signup ticked.
    assert wording.marketing == (
        "I agree to receive email from Acme about this party and future events."
    )
    attendees = new.get_model("parties", "Attendee").objects.all()
    assert {(a.marketing_consent, a.consent_wording_id, a.signup_source) for a in attendees} == {
        (True, wording.pk, "public_page")
    }
    assert not new.get_model("parties", "ConsentWording").objects.filter(organization_id=quiet.pk)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_pet_fields_become_questions_with_nothing_lost():
    before = [("parties", "0012_attendee_erased_at")]
    after = [("parties", "0013_questions")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    organization = Organization.objects.create(name="Acme")
    connection_row = KlaviyoConnection.objects.create(
        organization=organization, klaviyo_account_id="A1", public_api_key="A1"
    )
    parties = [
        old.get_model("parties", "Party").objects.create(
            organization_id=organization.pk,
            connection_id=connection_row.pk,
            name=name,
            starts_at=timezone.now(),
            address="1 Bark St",
            city="Boston",
            state="MA",
        )
        for name in ("Howl", "No one yet")
    ]
    Attendee = old.get_model("parties", "Attendee")
    for email, pet_name, pet_type in (
        ("both@example.com", "Rex", "dog"),
        ("name@example.com", "Tiddles", ""),
        ("none@example.com", "", ""),
    ):
        Attendee.objects.create(
            party=parties[0],
            email=email,
            first_name="Guest",
            pet_name=pet_name,
            pet_type=pet_type,
            consented_at=timezone.now(),
        )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    new = executor.loader.project_state(after).apps

    answers = dict(new.get_model("parties", "Attendee").objects.values_list("email", "answers"))
    assert answers == {
        "both@example.com": {"pet_name": "Rex", "pet_type": "dog"},
        "name@example.com": {"pet_name": "Tiddles"},
        "none@example.com": {},
    }
    # Every party asks them, under the same keys, still sent as the same profile properties.
    questions = new.get_model("parties", "Question").objects.order_by("party_id", "position")
    assert [(q.party_id, q.key, q.label, q.profile_property) for q in questions] == [
        (party.pk, key, label, key)
        for party in parties
        for key, label in (("pet_name", "Pet's name"), ("pet_type", "Pet type"))
    ]

    # And back: the answers return to their columns.
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(before)
    back = executor.loader.project_state(before).apps
    attendees = back.get_model("parties", "Attendee").objects
    rows = attendees.values_list("email", "pet_name", "pet_type")
    assert set(rows) == {
        ("both@example.com", "Rex", "dog"),
        ("name@example.com", "Tiddles", ""),
        ("none@example.com", "", ""),
    }
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
