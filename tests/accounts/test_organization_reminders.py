"""An organization's default reminder lead times, on its settings page (owners and admins),
and what a change does to its parties' reminders still to come."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import Role
from parties import services as party_services
from parties.models import PartyMetric, PartyMoment
from tests.support.parties import PARTY

pytestmark = pytest.mark.django_db

URL = reverse("accounts:organization_settings")


def settings_form(**changes: str) -> dict[str, str]:
    return {"name": "Happy Paws", "time_zone": "UTC", "reminder_hours": "24, 2", **changes}


def reminders(party) -> list[int]:
    return sorted(
        PartyMoment.objects.filter(
            party=party, metric=PartyMetric.STARTING_SOON, fired_at__isnull=True
        ).values_list("hours_before", flat=True)
    )


def test_the_settings_page_shows_the_default_reminders(login, owner):
    page = login(owner).get(URL)

    assert 'name="reminder_hours" value="24, 2"' in page.text
    assert "Leave empty for no reminders." in page.text


def test_an_owner_changes_the_default_reminders(login, owner):
    response = login(owner).post(URL, settings_form(reminder_hours="2, 48"))

    assert response.status_code == 302
    owner.organization.refresh_from_db()
    assert owner.organization.reminder_hours == [48, 2]


def test_an_empty_field_means_no_reminders(login, owner):
    login(owner).post(URL, settings_form(reminder_hours=""))

    owner.organization.refresh_from_db()
    assert owner.organization.reminder_hours == []


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("24, soon", "“soon” is not a whole number of hours."),
        ("500", "500 is not between 1 and 336 hours"),
        ("2, 2", "2 is there twice"),
    ],
)
def test_bad_reminders_show_an_error_and_change_nothing(login, owner, typed, error):
    response = login(owner).post(URL, settings_form(name="Renamed", reminder_hours=typed))

    assert response.status_code == 400
    assert error in response.text
    owner.organization.refresh_from_db()
    assert owner.organization.reminder_hours == [24, 2]
    assert owner.organization.name != "Renamed"


def test_members_cannot_change_the_reminders(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    response = login(member).post(URL, settings_form(reminder_hours="5"))

    assert response.status_code == 403
    owner.organization.refresh_from_db()
    assert owner.organization.reminder_hours == [24, 2]


def test_the_service_refuses_lead_times_the_form_would(owner):
    with pytest.raises(ValidationError):
        services.organization_update(
            organization=owner.organization,
            actor=owner,
            name="Happy Paws",
            time_zone="UTC",
            reminder_hours=[24, 24],
        )


def test_new_default_reminders_move_the_reminders_of_parties_to_come(
    login, owner, make_connection, django_capture_on_commit_callbacks
):
    connection = make_connection(owner.organization)
    following = party_services.party_create(membership=owner, connection=connection, data=PARTY)
    own = party_services.party_create(
        membership=owner, connection=connection, data={**PARTY, "reminder_hours": [6]}
    )
    assert reminders(following) == [2, 24]

    with django_capture_on_commit_callbacks(execute=True):
        login(owner).post(URL, settings_form(reminder_hours="48, 1"))

    assert reminders(following) == [1, 48]
    assert reminders(own) == [6]  # a party's own lead times stay its own


def test_a_cancelled_or_past_party_gets_no_new_reminders(
    owner, make_connection, django_capture_on_commit_callbacks
):
    connection = make_connection(owner.organization)
    cancelled = party_services.party_create(membership=owner, connection=connection, data=PARTY)
    party_services.party_cancel(party=cancelled)
    past = party_services.party_create(
        membership=owner,
        connection=connection,
        data={**PARTY, "starts_at": timezone.now() - timedelta(days=2)},
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.organization_update(
            organization=owner.organization,
            actor=owner,
            name="Happy Paws",
            time_zone="UTC",
            reminder_hours=[12],
        )

    assert reminders(cancelled) == []
    assert reminders(past) == []


def test_a_new_time_zone_replans_the_reminders(
    owner, make_connection, django_capture_on_commit_callbacks
):
    connection = make_connection(owner.organization)
    party = party_services.party_create(membership=owner, connection=connection, data=PARTY)
    # A reminder missing from the plan: only a replan brings it back.
    PartyMoment.objects.filter(party=party, hours_before=24).delete()

    with django_capture_on_commit_callbacks(execute=True):
        services.organization_update(
            organization=owner.organization,
            actor=owner,
            name=owner.organization.name,
            time_zone="America/Denver",
        )

    assert reminders(party) == [2, 24]


def test_saving_unchanged_settings_moves_nothing(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.organization_update(
            organization=owner.organization,
            actor=owner,
            name="Renamed only",
            time_zone=owner.organization.time_zone,
            reminder_hours=list(owner.organization.reminder_hours),
        )

    assert callbacks == []
