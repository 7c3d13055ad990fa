"""The organizer's side of lifecycle events: a party's end and reminders on its form, what an
edit tells attendees, cancelling a party (and its public pages after), the party page's
event counts and each attendee's events, and the "Send me test events" button with its limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from integrations.klaviyo.config import LIST_SCOPES
from integrations.models import ConnectionStatus
from parties import selectors, services
from parties.forms import PartyForm
from parties.models import EventSender, EventState, Party, PartyEvent, PartyMetric, PartyMoment
from tests.support.parties import PARTY_FORM, STARTS_AT, local_input
from tests.support.signups import post_signup, signup, signup_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def party(owner, make_party) -> Party:
    return make_party(owner.organization, name="Howl-o-ween")


def detail_url(party: Party) -> str:
    return reverse("parties:party_detail", args=[party.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def edit(client: Client, party: Party, **changes: str):
    """The edit form posted as the page fills it in, with `changes`."""
    form = {
        "name": party.name,
        "starts_at": local_input(party.starts_at),
        "ends_at": local_input(party.ends_at) if party.ends_at else "",
        "address": party.address,
        "address2": party.address2,
        "city": party.city,
        "state": party.state,
        "description": party.description,
        "reminder_hours": ", ".join(str(h) for h in party.reminder_hours or []),
        **changes,
    }
    return client.post(reverse("parties:party_edit", args=[party.pk]), form, follow=True)


def events_of(party: Party, metric: PartyMetric) -> list[PartyEvent]:
    return list(PartyEvent.objects.filter(party=party, metric=metric))


# --- The party form: end time and reminders ----------------------------------------------------


def party_form(**changes: str) -> PartyForm:
    return PartyForm({**PARTY_FORM, **changes}, default_reminder_hours=[24, 2])


def test_an_end_time_and_reminders_are_optional():
    form = party_form()

    assert form.is_valid(), form.errors
    assert form.party_data["ends_at"] is None
    assert form.party_data["reminder_hours"] is None


def test_reminders_are_read_as_whole_hours_largest_first():
    form = party_form(reminder_hours=" 2,48 , 24,")

    assert form.is_valid(), form.errors
    assert form.party_data["reminder_hours"] == [48, 24, 2]


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("24, two", "“two” is not a whole number of hours."),
        ("1.5", "“1.5” is not a whole number of hours."),
        ("-3", "“-3” is not a whole number of hours."),
        ("0", "0 is not between 1 and 336 hours"),
        ("337", "337 is not between 1 and 336 hours"),
        ("24, 2, 24", "24 is there twice: give each lead time once."),
        ("²", "“²” is not a whole number of hours."),
    ],
)
def test_reminders_refuse_what_is_not_distinct_whole_hours_up_to_two_weeks(typed, error):
    form = party_form(reminder_hours=typed)

    assert not form.is_valid()
    assert error in form.errors["reminder_hours"][0]


def test_the_highest_lead_time_is_the_schedules_own():
    from accounts.models import REMINDER_HOURS_MAX
    from parties.events.schedule import MAX_LEAD_HOURS

    assert REMINDER_HOURS_MAX == MAX_LEAD_HOURS == 336
    assert party_form(reminder_hours="336, 1").is_valid()


def test_the_end_must_come_after_the_start():
    form = party_form(ends_at=local_input(STARTS_AT))

    assert not form.is_valid()
    assert form.errors["ends_at"] == ["The party must end after it starts."]


def test_the_reminders_help_names_the_organizations_default(login, owner, make_connection):
    make_connection(owner.organization)
    owner.organization.reminder_hours = [48, 3]
    owner.organization.save()

    page = login(owner).get(reverse("parties:party_create"))

    assert "Leave empty: three hours after the start" in page.text
    assert "Leave empty: your organization's, 48, 3." in page.text


def test_a_new_party_keeps_its_end_and_reminders(login, owner, make_connection):
    make_connection(owner.organization)
    ends = STARTS_AT + timedelta(hours=5)

    response = login(owner).post(
        reverse("parties:party_create"),
        {**PARTY_FORM, "ends_at": local_input(ends), "reminder_hours": "2, 24"},
    )

    assert response.status_code == 302
    party = Party.objects.get()
    assert party.ends_at == ends
    assert party.reminder_hours == [24, 2]
    due = sorted(PartyMoment.objects.filter(party=party).values_list("metric", "hours_before"))
    assert due == [("ended", 0), ("starting_soon", 2), ("starting_soon", 24)]


def test_the_edit_form_shows_the_partys_end_and_reminders(login, owner, make_party):
    ends = STARTS_AT + timedelta(hours=4)
    party = make_party(owner.organization, starts_at=STARTS_AT, ends_at=ends, reminder_hours=[6])

    page = login(owner).get(reverse("parties:party_edit", args=[party.pk]))

    assert f'value="{local_input(ends)}"' in page.text
    assert 'name="reminder_hours" value="6"' in page.text


def test_a_bad_reminder_on_the_edit_form_changes_nothing(login, owner, party):
    response = login(owner).post(
        reverse("parties:party_edit", args=[party.pk]),
        {**PARTY_FORM, "name": "Renamed", "reminder_hours": "24, 400"},
    )

    assert response.status_code == 400
    assert "400 is not between 1 and 336 hours" in response.text
    party.refresh_from_db()
    assert (party.name, party.reminder_hours) == ("Howl-o-ween", None)


# --- An edit says whom it tells ---------------------------------------------------------------


def test_moving_the_party_says_how_many_attendees_will_be_told(login, owner, party):
    signup(party, email="a@example.com")
    signup(party, email="b@example.com")

    page = edit(login(owner), party, starts_at=local_input(party.starts_at + timedelta(hours=1)))

    assert any(
        "2 registered attendees will get a Party Details Changed event" in message
        for message in messages_of(page)
    )
    assert len(events_of(party, PartyMetric.DETAILS_CHANGED)) == 2


def test_a_new_place_for_one_attendee_says_attendee(login, owner, party):
    signup(party, email="a@example.com")

    page = edit(login(owner), party, city="Cambridge")

    assert any(
        "1 registered attendee will get a Party Details Changed event" in message
        for message in messages_of(page)
    )


def test_an_edit_of_neither_time_nor_place_tells_nobody(login, owner, party):
    signup(party, email="a@example.com")

    page = edit(login(owner), party, description="Bring treats.")

    assert messages_of(page) == ["Saved Howl-o-ween."]
    assert events_of(party, PartyMetric.DETAILS_CHANGED) == []


def test_saving_a_time_with_seconds_unchanged_is_no_change_of_time(login, owner, make_party):
    # A party made elsewhere (the API, the admin) may start at 18:30:45; the form shows 18:30.
    starts = (timezone.now() + timedelta(days=3)).replace(second=45, microsecond=0)
    party = make_party(owner.organization, starts_at=starts)
    signup(party, email="a@example.com")

    page = edit(login(owner), party)

    assert messages_of(page) == [f"Saved {party.name}."]
    party.refresh_from_db()
    assert party.starts_at == starts
    assert events_of(party, PartyMetric.DETAILS_CHANGED) == []


def test_the_edit_page_warns_that_a_new_time_or_place_is_told(login, owner, party):
    signup(party, email="a@example.com")

    page = login(owner).get(reverse("parties:party_edit", args=[party.pk]))

    assert "sends its registered attendee a Party Details Changed event" in page.text


# --- Cancelling a party ------------------------------------------------------------------------


def cancel_url(party: Party) -> str:
    return reverse("parties:party_cancel", args=[party.pk])


def test_cancelling_asks_first_and_changes_nothing_until_confirmed(login, owner, party):
    signup(party, email="a@example.com")

    page = login(owner).get(cancel_url(party))

    assert page.status_code == 200
    assert "Cancel Howl-o-ween?" in page.text
    assert "sends its registered attendee a <strong>Party Cancelled</strong> event" in page.text
    assert "Keep the party" in page.text
    party.refresh_from_db()
    assert not party.is_cancelled


def test_cancelling_closes_signups_and_tells_each_attendee(login, owner, party):
    signup(party, email="a@example.com")
    signup(party, email="b@example.com")

    page = login(owner).post(cancel_url(party), follow=True)

    assert page.redirect_chain[-1][0] == detail_url(party)
    party.refresh_from_db()
    assert party.is_cancelled
    assert not party.signups_open
    assert len(events_of(party, PartyMetric.CANCELLED)) == 2
    assert any("Cancelled Howl-o-ween." in message for message in messages_of(page))


def test_the_cancelled_party_page_says_so_and_offers_no_reopening(login, owner, party):
    services.party_cancel(party=party)

    page = login(owner).get(detail_url(party))

    assert "This party was cancelled" in page.text
    assert timezone.localtime(party.cancelled_at).strftime("%Y") in page.text
    assert "Reopen signups" not in page.text
    assert "Close signups" not in page.text
    assert cancel_url(party) not in page.text
    assert reverse("parties:party_delete", args=[party.pk]) in page.text
    assert 'class="badge badge-error">Cancelled<' in page.text


def test_cancelling_twice_cancels_once(login, owner, party):
    signup(party, email="a@example.com")
    client = login(owner)
    client.post(cancel_url(party))

    page = client.post(cancel_url(party), follow=True)

    assert "Howl-o-ween was already cancelled." in messages_of(page)
    assert len(events_of(party, PartyMetric.CANCELLED)) == 1


def test_a_cancellation_that_lost_a_race_says_the_party_was_already_cancelled(
    login, owner, party, monkeypatch
):
    # Cancelled by someone else between this page's read and the service's guarded UPDATE.
    monkeypatch.setattr(services, "party_cancel", lambda *, party: False)

    page = login(owner).post(cancel_url(party), follow=True)

    assert messages_of(page) == ["Howl-o-ween was already cancelled."]


def test_a_cancelled_partys_signups_cannot_be_reopened(login, owner, party):
    services.party_cancel(party=party)

    page = login(owner).post(
        reverse("parties:party_signups", args=[party.pk]), {"open": "1"}, follow=True
    )

    assert page.status_code == 200
    assert "This party was cancelled: its signups stay closed." in messages_of(page)
    party.refresh_from_db()
    assert not party.signups_open


def test_a_cancelled_party_can_still_be_deleted(login, owner, party):
    services.party_cancel(party=party)

    response = login(owner).post(reverse("parties:party_delete", args=[party.pk]))

    assert response.status_code == 302
    assert not Party.objects.filter(pk=party.pk).exists()


def test_cancelling_needs_the_csrf_token(owner, party, login):
    client = login(owner, Client(enforce_csrf_checks=True))

    response = client.post(cancel_url(party))

    assert response.status_code == 403
    party.refresh_from_db()
    assert not party.is_cancelled


def test_the_cancelled_public_page_says_so_instead_of_the_form(client, party):
    services.party_cancel(party=party)

    page = client.get(signup_url(party))

    assert page.status_code == 200
    assert "This party was cancelled." in page.text
    assert 'name="email"' not in page.text


def test_a_signup_posted_to_a_cancelled_party_keeps_nothing(client, party):
    services.party_cancel(party=party)

    page = post_signup(client, party, email="late@example.com")

    assert "This party was cancelled." in page.text
    assert not party.attendees.exists()


def test_the_thank_you_page_of_a_cancelled_party_says_it_was_cancelled(client, party):
    services.party_cancel(party=party)

    page = client.get(reverse("parties:signup_thanks", args=[party.slug]))

    assert "This party was cancelled" in page.text
    assert "you're signed up" not in page.text


def test_a_party_with_closed_signups_is_not_called_cancelled(client, party):
    services.party_set_signups_open(party=party, is_open=False)

    page = client.get(signup_url(party))

    assert "Signups for this party are closed." in page.text
    assert "cancelled" not in page.text


# --- The party page's event counts --------------------------------------------------------------


def add_event(party: Party, metric: PartyMetric, state: EventState, *, attendee=None, **fields):
    number = PartyEvent.objects.count() + 1
    return PartyEvent.objects.create(
        connection=party.connection,
        party=party,
        attendee=attendee,
        metric=metric,
        unique_id=f"test-{number}",
        occurred_at=timezone.now() + timedelta(seconds=number),
        email=attendee.email if attendee else "owner@example.com",
        state=state,
        **fields,
    )


def test_event_counts_are_one_grouped_query_by_metric_and_state(party, make_attendee):
    sarah = make_attendee(party)
    for state in (EventState.WAITING, EventState.SENDING, EventState.SENT, EventState.DELIVERED):
        add_event(party, PartyMetric.REGISTERED, state, attendee=sarah)
    add_event(party, PartyMetric.REGISTERED, EventState.NOT_RECORDED, attendee=sarah)
    add_event(party, PartyMetric.CANCELLED, EventState.REJECTED, attendee=sarah)
    add_event(party, PartyMetric.STARTING_SOON, EventState.WITHDRAWN, attendee=sarah)
    add_event(party, PartyMetric.ENDED, EventState.DELIVERED)  # a test event (no attendee)
    party = Party.objects.select_related("connection__event_sender").get(pk=party.pk)

    with CaptureQueriesContext(db_connection) as queries:
        events = selectors.party_events(party=party)

    assert len(queries) == 1
    assert "GROUP BY" in queries[0]["sql"]
    rows = {row.label: row.counts for row in events.metrics}
    assert list(rows) == ["Registered for Party", "Party Starting Soon", "Party Cancelled"]
    assert rows["Registered for Party"] == {
        "waiting": 2,
        "sent": 1,
        "delivered": 1,
        "dropped": 1,
        "rejected": 0,
        "withdrawn": 0,
    }
    assert rows["Party Cancelled"]["rejected"] == 1
    assert rows["Party Starting Soon"]["withdrawn"] == 1
    assert events.samples["delivered"] == 1
    assert events.in_flight == 3


def test_the_counts_leave_out_other_parties_events(party, make_party, make_attendee):
    other = make_party(party.organization)
    add_event(other, PartyMetric.REGISTERED, EventState.SENT, attendee=make_attendee(other))

    assert selectors.party_events(party=party).metrics == []


def test_party_page_shows_the_counts_and_what_each_state_means(login, owner, party, make_attendee):
    sarah = make_attendee(party, email="sarah@example.com")
    add_event(party, PartyMetric.REGISTERED, EventState.DELIVERED, attendee=sarah)
    add_event(party, PartyMetric.STARTING_SOON, EventState.SENT, attendee=sarah)

    page = login(owner).get(detail_url(party))

    section = page.text.split('id="klaviyo-events"')[1].split("</section>")[0]
    assert "Registered for Party" in section
    assert "Party Starting Soon" in section
    assert "Party Cancelled" not in section  # no events of it
    assert "Klaviyo accepted it; delivered once we see it recorded." in section
    assert "Dropped" in section
    assert "Withdrawn" in section


def test_each_attendee_row_shows_its_events(login, owner, party, make_attendee):
    sarah = make_attendee(party, email="sarah@example.com")
    add_event(party, PartyMetric.REGISTERED, EventState.DELIVERED, attendee=sarah)
    add_event(
        party,
        PartyMetric.STARTING_SOON,
        EventState.REJECTED,
        attendee=sarah,
        reason="Invalid email",
    )

    page = login(owner).get(detail_url(party))

    row = next(row for row in page.text.split("</tr>") if "sarah@example.com" in row)
    assert "Registered for Party: delivered" in row
    assert "Party Starting Soon: rejected (Invalid email)" in row


def test_the_attendee_events_cost_one_query_for_the_whole_page(login, owner, party, make_attendee):
    def page_queries() -> int:
        with CaptureQueriesContext(db_connection) as queries:
            assert client.get(detail_url(party)).status_code == 200
        return len(queries)

    client = login(owner)
    first = make_attendee(party)
    add_event(party, PartyMetric.REGISTERED, EventState.DELIVERED, attendee=first)
    page_queries()  # the session settles
    with_one = page_queries()
    for _ in range(10):
        attendee = make_attendee(party)
        add_event(party, PartyMetric.REGISTERED, EventState.SENT, attendee=attendee)
        add_event(party, PartyMetric.STARTING_SOON, EventState.WAITING, attendee=attendee)

    assert page_queries() == with_one


def test_an_event_changing_state_changes_the_live_etag(login, owner, party, make_attendee):
    sarah = make_attendee(party)
    event = add_event(party, PartyMetric.REGISTERED, EventState.SENT, attendee=sarah)
    client = login(owner)
    url = reverse("parties:party_live", args=[party.pk])
    etag = client.get(url)["ETag"]

    PartyEvent.objects.filter(pk=event.pk).update(state=EventState.DELIVERED)
    response = client.get(url, headers={"if-none-match": etag})

    assert response.status_code == 200
    assert "Registered for Party: delivered" in response.text


def test_a_paused_event_sender_is_shown_with_what_to_do(login, owner, party):
    EventSender.objects.update_or_create(
        connection=party.connection,
        defaults={"paused_reason": "The Klaviyo connection needs reconnecting."},
    )

    page = login(owner).get(detail_url(party))

    assert "Events to Klaviyo are paused:" in page.text
    assert "The Klaviyo connection needs reconnecting." in page.text
    section = page.text.split('id="klaviyo-events"')[1].split("</section>")[0]
    assert reverse("integrations:settings") in section


def test_a_connection_without_event_scopes_says_events_wait_for_a_reconnect(
    login, owner, make_connection, make_party
):
    connection = make_connection(owner.organization, scopes=LIST_SCOPES)
    party = make_party(connection=connection)

    page = login(owner).get(detail_url(party))

    section = page.text.split('id="klaviyo-events"')[1].split("</section>")[0]
    assert "Lifecycle events wait: Klaviyo has not granted Partyline events:write" in section
    assert "wait for a reconnect" in section


def test_a_working_connection_shows_no_events_warning(login, owner, party):
    page = login(owner).get(detail_url(party))

    assert "Events to Klaviyo are paused" not in page.text
    assert "wait for a reconnect" not in page.text


# --- "Send me test events" -------------------------------------------------------------------


def sample_events_url(party: Party) -> str:
    return reverse("parties:party_test_events", args=[party.pk])


def test_test_events_are_sent_for_the_person_asking(login, owner, party):
    page = login(owner).post(sample_events_url(party), follow=True)

    assert page.redirect_chain[-1][0] == f"{detail_url(party)}#klaviyo-events"
    assert (
        "Sample events of each metric are on their way to Klaviyo for "
        f"{owner.user.email} (marked sample: true)."
    ) in messages_of(page)
    samples = PartyEvent.objects.filter(party=party, attendee=None)
    assert samples.count() == len(PartyMetric)
    assert {event.email for event in samples} == {owner.user.email}
    assert all(event.properties["sample"] is True for event in samples)
    assert "Test events of this party (marked sample: true): 9 in all" in page.text


def test_test_events_are_limited_to_once_a_minute_per_party(login, owner, party, make_party):
    client = login(owner)
    client.post(sample_events_url(party))

    page = client.post(sample_events_url(party), follow=True)

    message = messages_of(page)[-1]
    assert message.startswith("Test events for this party were sent moments ago;")
    assert "try again in" in message
    assert PartyEvent.objects.filter(party=party).count() == len(PartyMetric)
    # Another party's button is its own.
    other = make_party(owner.organization)
    client.post(sample_events_url(other))
    assert PartyEvent.objects.filter(party=other).count() == len(PartyMetric)


def test_test_events_go_again_after_the_minute(login, owner, party, settings):
    settings.SAMPLE_EVENTS_RATE_PER_PARTY = "100/m"
    client = login(owner)
    client.post(sample_events_url(party), follow=True)

    page = client.post(sample_events_url(party), follow=True)

    assert messages_of(page)[-1].startswith("Sample events of each metric are on their way")


def test_test_events_without_event_scopes_say_so_and_send_nothing(
    login, owner, make_connection, make_party
):
    party = make_party(connection=make_connection(owner.organization, scopes=LIST_SCOPES))

    page = login(owner).post(sample_events_url(party), follow=True)

    [message] = messages_of(page)
    assert "Klaviyo has not granted Partyline events:write" in message
    assert "Reconnect Klaviyo on the Integrations page" in message
    assert not PartyEvent.objects.exists()


def test_test_events_need_an_active_connection(login, owner, make_connection, make_party):
    connection = make_connection(owner.organization, status=ConnectionStatus.NEEDS_RECONNECT)
    party = make_party(connection=connection)

    page = login(owner).post(sample_events_url(party), follow=True)

    assert messages_of(page) == [
        "Reconnect Klaviyo first: sample events need a working connection."
    ]
    assert not PartyEvent.objects.exists()


def test_test_events_need_the_csrf_token(owner, party, login):
    client = login(owner, Client(enforce_csrf_checks=True))

    response = client.post(sample_events_url(party))

    assert response.status_code == 403
    assert not PartyEvent.objects.exists()


def test_members_see_no_test_events_button(login, make_member, party):
    member = make_member(role=Role.MEMBER, organization=party.organization)

    page = login(member).get(detail_url(party))

    assert "Klaviyo events" in page.text
    assert sample_events_url(party) not in page.text
