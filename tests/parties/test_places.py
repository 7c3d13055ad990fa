"""A registration's place: capacity never exceeded, a waitlist that moves by itself in signup
order, offers claimed or passed on, cancellations; each change writing its event once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, connections, transaction
from django.db import connection as db_connection
from django.utils import timezone

from parties import places, services, tasks
from parties.errors import PartyError, PartyFull
from parties.events.send import claim_batch, release, waitlist_positions_fill
from parties.models import (
    Attendee,
    EventState,
    Party,
    PartyEvent,
    PartyMetric,
    Place,
    SyncState,
)
from tests.support.database import skip_without_connections
from tests.support.signups import signup
from tests.support.waitlist import assert_told_where_they_are, told_positions, waitlist_in_order
from tests.support.workers import run_queued_tasks


def events(metric: PartyMetric, **filters: object) -> list[PartyEvent]:
    return list(PartyEvent.objects.filter(metric=metric, **filters).order_by("pk"))


def place_of(email: str) -> str:
    return Attendee.objects.get(email=email).place


@pytest.fixture
def capped(make_party) -> Party:
    return make_party(capacity=2)


def test_a_place_freed_while_a_signup_joined_the_waitlist_goes_to_the_first_in_line(
    capped, monkeypatch, django_capture_on_commit_callbacks
):
    """A cancellation that commits between a signup's failed try and its waitlist join (its
    promotion saw nobody waiting) leaves a free place: once the join commits, the first
    person waiting gets it."""
    monkeypatch.setattr(places, "seat_take", lambda party_id: False)  # the place "was taken"
    with django_capture_on_commit_callbacks() as after_commit:
        attendee = signup(capped, email="ann@example.com")
    monkeypatch.undo()
    for callback in after_commit:
        callback()
    attendee.refresh_from_db()
    assert attendee.place == Place.REGISTERED
    registered = PartyEvent.objects.get(attendee=attendee, metric=PartyMetric.REGISTERED)
    assert registered.properties["from_waitlist"] is True
    # Moved up before their waitlist event went: it is withdrawn, not sent.
    assert told_positions(capped) == {}


def test_the_sweep_gives_a_free_place_left_by_a_dead_process(capped, monkeypatch):
    monkeypatch.setattr(places, "seat_take", lambda party_id: False)
    signup(capped, email="ann@example.com")  # its on-commit promotion never ran
    monkeypatch.undo()
    tasks.sweep_now()
    run_queued_tasks()
    assert place_of("ann@example.com") == Place.REGISTERED


def test_at_capacity_a_signup_joins_the_waitlist_with_its_position(capped):
    for name in ("a", "b", "c", "d"):
        signup(capped, email=f"{name}@example.com")
    assert [place_of(f"{n}@example.com") for n in "abcd"] == [
        Place.REGISTERED,
        Place.REGISTERED,
        Place.WAITLISTED,
        Place.WAITLISTED,
    ]
    assert Party.objects.get(pk=capped.pk).seats_taken == 2
    # Their positions are told as their events go out.
    assert len(events(PartyMetric.JOINED_WAITLIST)) == 2
    assert told_positions(capped) == {"c@example.com": 1, "d@example.com": 2}
    # Kept on the rows too: a resend tells the same numbers.
    assert [e.properties["position"] for e in events(PartyMetric.JOINED_WAITLIST)] == [1, 2]
    assert len(events(PartyMetric.REGISTERED)) == 2
    assert places.waitlist_position(Attendee.objects.get(email="d@example.com")) == 2


def test_a_join_is_told_its_position_only_once_the_joins_before_it_had_time_to_commit(capped):
    for name in "abc":
        signup(capped, email=f"{name}@example.com")
    batch, claimed_at = claim_batch(capped.connection_id)
    sent_now = waitlist_positions_fill(batch, claimed_at)
    # c joined a moment ago: its event waits, untold, for the next run.
    assert [e.metric for e in sent_now] == [PartyMetric.REGISTERED, PartyMetric.REGISTERED]
    c = PartyEvent.objects.get(email="c@example.com", metric=PartyMetric.JOINED_WAITLIST)
    assert c.state == EventState.WAITING
    assert "position" not in c.properties
    release(sent_now, claimed_at)
    assert told_positions(capped) == {"c@example.com": 1}


def test_full_without_a_waitlist_saves_nothing_and_says_so(make_party):
    party = make_party(capacity=1, waitlist_enabled=False)
    signup(party, email="a@example.com")
    with pytest.raises(PartyFull, match="full"):
        signup(party, email="b@example.com")
    assert not Attendee.objects.filter(email="b@example.com").exists()
    assert len(events(PartyMetric.REGISTERED)) == 1


def test_a_cancellation_frees_the_place_for_the_first_person_waiting(capped):
    for name in "abcd":
        signup(capped, email=f"{name}@example.com")
    a = Attendee.objects.get(email="a@example.com")
    assert places.attendee_cancel(attendee=a, by=places.BY_ATTENDEE) is True
    assert place_of("a@example.com") == Place.CANCELLED
    assert place_of("c@example.com") == Place.REGISTERED  # first in line
    assert place_of("d@example.com") == Place.WAITLISTED
    promoted = events(PartyMetric.REGISTERED, email="c@example.com")
    assert [e.properties["from_waitlist"] for e in promoted] == [True]
    cancelled = events(PartyMetric.REGISTRATION_CANCELLED)
    assert [(e.email, e.properties["cancelled_by"]) for e in cancelled] == [
        ("a@example.com", "attendee")
    ]
    assert Attendee.objects.get(email="c@example.com").sync_state == SyncState.PENDING
    assert Party.objects.get(pk=capped.pk).seats_taken == 2


def test_a_second_cancellation_changes_nothing(capped):
    signup(capped, email="a@example.com")
    a = Attendee.objects.get(email="a@example.com")
    assert places.attendee_cancel(attendee=a, by=places.BY_ATTENDEE) is True
    # The guard: a double click frees no second place and writes no second event.
    assert places.attendee_cancel(attendee=a, by=places.BY_ORGANIZER) is False
    assert len(events(PartyMetric.REGISTRATION_CANCELLED)) == 1
    assert Attendee.objects.get(pk=a.pk).cancelled_by == places.BY_ATTENDEE  # who really did
    assert Party.objects.get(pk=capped.pk).seats_taken == 0


def test_cancelling_a_waitlisted_person_frees_no_place(capped):
    for name in "abc":
        signup(capped, email=f"{name}@example.com")
    places.attendee_cancel(attendee=Attendee.objects.get(email="c@example.com"), by="organizer")
    assert Party.objects.get(pk=capped.pk).seats_taken == 2
    assert place_of("a@example.com") == Place.REGISTERED


def test_with_a_claim_window_the_place_is_offered_then_claimed(make_party):
    party = make_party(capacity=1, claim_window_hours=24)
    signup(party, email="a@example.com")
    signup(party, email="b@example.com")
    places.attendee_cancel(attendee=Attendee.objects.get(email="a@example.com"), by="attendee")
    b = Attendee.objects.get(email="b@example.com")
    assert b.place == Place.OFFERED
    assert timedelta(hours=23) < b.offer_expires_at - timezone.now() <= timedelta(hours=24)
    offer = events(PartyMetric.OFFERED_SPOT)[0]
    assert offer.properties["claim_window_hours"] == 24
    assert datetime.fromisoformat(offer.properties["offer_expires_at"]) == b.offer_expires_at
    places.offer_claim(attendee=b)
    assert place_of("b@example.com") == Place.REGISTERED
    places.offer_claim(attendee=b)  # a second click: still registered, no second event
    assert len(events(PartyMetric.REGISTERED, email="b@example.com")) == 1


def test_an_unclaimed_offer_passes_to_the_next_person(make_party):
    party = make_party(capacity=1, claim_window_hours=2)
    for name in "abc":
        signup(party, email=f"{name}@example.com")
    places.attendee_cancel(attendee=Attendee.objects.get(email="a@example.com"), by="attendee")
    b = Attendee.objects.get(email="b@example.com")
    Attendee.objects.filter(pk=b.pk).update(offer_expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(PartyError, match="ended"):
        places.offer_claim(attendee=b)
    assert places.offers_expire(party=party) == 1
    assert place_of("b@example.com") == Place.CANCELLED
    assert Attendee.objects.get(email="b@example.com").cancelled_by == places.BY_OFFER_EXPIRY
    assert place_of("c@example.com") == Place.OFFERED
    assert Party.objects.get(pk=party.pk).seats_taken == 1


def test_raising_the_capacity_promotes_in_order_and_lowering_below_the_seats_is_refused(capped):
    for name in "abcde":
        signup(capped, email=f"{name}@example.com")
    promoted = places.capacity_change(party=capped, capacity=4)
    assert [a.email for a in promoted] == ["c@example.com", "d@example.com"]
    assert place_of("e@example.com") == Place.WAITLISTED
    with pytest.raises(PartyError, match="4 people hold places"):
        places.capacity_change(party=capped, capacity=3)
    assert Party.objects.get(pk=capped.pk).capacity == 4
    places.capacity_change(party=capped, capacity=None)
    assert place_of("e@example.com") == Place.REGISTERED


def test_someone_who_cancelled_can_register_again_as_a_new_registration(capped):
    signup(capped, email="a@example.com")
    places.attendee_cancel(attendee=Attendee.objects.get(email="a@example.com"), by="attendee")
    signup(capped, email="a@example.com")
    a = Attendee.objects.get(email="a@example.com")
    assert (a.place, a.registrations) == (Place.REGISTERED, 2)
    registered = events(PartyMetric.REGISTERED, email="a@example.com")
    assert len({e.unique_id for e in registered}) == 2


def test_the_database_refuses_more_places_than_the_capacity(capped):
    with pytest.raises(IntegrityError), transaction.atomic():
        Party.objects.filter(pk=capped.pk).update(seats_taken=3)


def test_the_organizer_registers_someone_waiting_only_when_a_place_is_free(capped):
    for name in "abc":
        signup(capped, email=f"{name}@example.com")
    c = Attendee.objects.get(email="c@example.com")
    with pytest.raises(PartyError, match="full"):
        places.attendee_promote(attendee=c)
    places.capacity_change(party=capped, capacity=2)  # unchanged: nothing to promote
    Party.objects.filter(pk=capped.pk).update(capacity=3)
    places.attendee_promote(attendee=c)
    assert place_of("c@example.com") == Place.REGISTERED


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
)
@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_a_concurrent_rush_registers_exactly_the_capacity_and_waitlists_the_rest(make_party):
    threads, signups, capacity = 20, 1000, 100
    skip_without_connections(threads)
    party = make_party(capacity=capacity)
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def rush(worker: int) -> None:
        try:
            start.wait()
            for number in range(worker, signups, threads):
                services.attendee_register(
                    party=party,
                    data={"email": f"guest{number}@example.com", "first_name": "G"},
                )
        except BaseException as error:  # any error answered to a person is a failure
            errors.append(error)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(rush, range(threads)))

    assert errors == []
    attendees = Attendee.objects.filter(party=party)
    assert attendees.count() == signups
    assert attendees.filter(place=Place.REGISTERED).count() == capacity
    assert Party.objects.get(pk=party.pk).seats_taken == capacity
    waiting = waitlist_in_order(party)
    assert len(waiting) == signups - capacity
    assert_told_where_they_are(party, waiting)
    assert PartyEvent.objects.filter(metric=PartyMetric.REGISTERED).count() == capacity


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
)
@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_cancellations_and_a_capacity_change_at_the_same_moment_keep_every_count(make_party):
    """Two guests cancel (one of them with a double click, two requests) while the organizer
    raises the capacity from 3 to 4: four registered at the end, each cancellation counted
    once, each promotion once, and the line still whole."""
    skip_without_connections(5)
    party = make_party(capacity=3)
    people = [signup(party, email=f"guest{n}@example.com") for n in range(8)]
    leaving = people[:2]
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def at_once(action) -> None:
        try:
            start.wait()
            action()
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    actions = [
        lambda: places.attendee_cancel(attendee=leaving[0], by=places.BY_ATTENDEE),
        lambda: places.attendee_cancel(attendee=leaving[0], by=places.BY_ATTENDEE),
        lambda: places.attendee_cancel(attendee=leaving[1], by=places.BY_ORGANIZER),
        lambda: places.capacity_change(party=Party.objects.get(pk=party.pk), capacity=4),
    ]
    threads = [threading.Thread(target=at_once, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    party.refresh_from_db()
    registered = Attendee.objects.filter(party=party, place=Place.REGISTERED)
    assert party.capacity == 4
    assert registered.count() == 4
    assert party.seats_taken == 4
    cancelled = PartyEvent.objects.filter(metric=PartyMetric.REGISTRATION_CANCELLED)
    assert sorted(cancelled.values_list("attendee__email", flat=True)) == [
        "guest0@example.com",
        "guest1@example.com",
    ]
    promoted = PartyEvent.objects.filter(
        metric=PartyMetric.REGISTERED, properties__from_waitlist=True
    )
    # guest1 and guest2 stay; guest3, guest4, guest5 moved up, in the order they joined.
    assert sorted(promoted.values_list("attendee__email", flat=True)) == [
        f"guest{n}@example.com" for n in (3, 4, 5)
    ]
    assert [a.email for a in waitlist_in_order(party)] == [
        "guest6@example.com",
        "guest7@example.com",
    ]


def test_a_cancelled_party_ends_its_offers_and_moves_nobody_up(make_party):
    party = make_party(capacity=1, claim_window_hours=24)
    first, offered, waiting = (signup(party, email=f"{n}@example.com") for n in "abc")
    places.attendee_cancel(attendee=first, by=places.BY_ATTENDEE)
    offered.refresh_from_db()
    assert offered.place == Place.OFFERED

    services.party_cancel(party=party)
    offered.refresh_from_db()
    assert offered.offer_expires_at is None
    with pytest.raises(PartyError, match="cancelled"):
        places.offer_claim(attendee=offered)
    # Cancelling the offered guest frees a place nobody is given.
    places.attendee_cancel(attendee=offered, by=places.BY_ORGANIZER)
    waiting.refresh_from_db()
    assert waiting.place == Place.WAITLISTED
    assert not PartyEvent.objects.filter(attendee=waiting, metric=PartyMetric.OFFERED_SPOT).exists()
    assert places.offers_expire(party=party) == 0


def rush_with_a_change_midway(party: Party, change, *, signups: int = 400, threads: int = 16):
    """`signups` arrive on `threads` threads; once a quarter are in, `change()` runs on
    another, with signups still arriving. The signups refused (closed, full) by email."""
    skip_without_connections(threads + 1)
    refused: list[str] = []
    errors: list[BaseException] = []
    quarter = threading.Event()
    start = threading.Barrier(threads + 1)

    def rush(worker: int) -> None:
        try:
            start.wait()
            for number in range(worker, signups, threads):
                email = f"guest{number}@example.com"
                try:
                    services.attendee_register(
                        party=Party.objects.get(pk=party.pk),
                        data={"email": email, "first_name": "G"},
                    )
                except PartyError:
                    refused.append(email)
                if number >= signups // 4:
                    quarter.set()
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    def organizer() -> None:
        try:
            start.wait()
            quarter.wait(timeout=60)
            change()
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=rush, args=(n,)) for n in range(threads)]
    workers.append(threading.Thread(target=organizer))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    return refused


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
)
@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_a_capacity_set_in_the_middle_of_a_rush_holds_exactly(make_party):
    """An unlimited party's signups count no places as they go; the organizer sets a
    capacity mid-rush: signups under way finish first and are counted, later ones see it."""
    party = make_party()
    capacity = 300

    def set_capacity() -> None:
        with transaction.atomic():
            places.capacity_change(party=Party.objects.get(pk=party.pk), capacity=capacity)

    assert rush_with_a_change_midway(party, set_capacity) == []
    party.refresh_from_db()
    assert party.capacity == capacity
    assert Attendee.objects.filter(party=party, place=Place.REGISTERED).count() == capacity
    assert party.seats_taken == capacity
    assert len(waitlist_in_order(party)) == 400 - capacity


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
)
@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_a_party_cancelled_in_the_middle_of_a_rush_tells_everyone_it_registered(make_party):
    party = make_party()
    refused = rush_with_a_change_midway(party, lambda: services.party_cancel(party=party))
    assert refused  # the later ones were told the party was cancelled
    registered = Attendee.objects.filter(party=party, place=Place.REGISTERED)
    told = PartyEvent.objects.filter(party=party, metric=PartyMetric.CANCELLED)
    # Everyone registered got `Party Cancelled`: none slipped in after the news was written.
    assert set(told.values_list("attendee_id", flat=True)) == set(
        registered.values_list("pk", flat=True)
    )
    assert registered.count() + len(refused) == 400
