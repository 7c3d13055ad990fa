"""The capped rush through the whole web tier: 1,000 people at their browsers sign up at once,
over HTTP, for a party of 100, served by gunicorn's worker processes writing side by side.
Exactly 100 are registered, the other 900 are on the waitlist with positions 1 to 900, and
every person was told their signup worked (no error answered, nothing lost).
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection as db_connection

from parties.models import Attendee, Party, PartyEvent, PartyMetric, Place
from tests.support.processes import free_port, process_env, start_gunicorn, stop
from tests.support.signups import signup_over_http
from tests.support.waitlist import assert_told_where_they_are, waitlist_in_order

SIGNUPS, CAPACITY = 1000, 100

pytestmark = [
    pytest.mark.skipif(
        db_connection.vendor != "postgresql",
        reason="web processes beside the test need a database server: PostgreSQL",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", "sandbox"]),
]


def test_a_rush_over_http_fills_the_party_and_waitlists_the_rest_in_order(make_party, tmp_path):
    party = make_party(capacity=CAPACITY)
    port = free_port()
    env = process_env(
        ALLOWED_HOSTS="127.0.0.1", SECURE_COOKIES="false", SIGNUP_RATE_PER_IP="100000/m"
    )
    web = start_gunicorn(
        "config.wsgi", port=port, env=env, log=tmp_path / "web.log", probe="/healthz"
    )
    url = f"http://127.0.0.1:{port}/p/{party.slug}/"
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(
                pool.map(lambda n: signup_over_http(url, f"guest{n}@example.com"), range(SIGNUPS))
            )
        # Two more, one after the other once the rush is over: the end of the line, in order.
        late = [signup_over_http(url, f"late{n}@example.com") for n in range(2)]
    finally:
        stop(web)

    assert Counter(answers) == {303: SIGNUPS}
    assert late == [303, 303]
    attendees = Attendee.objects.filter(party=party)
    assert attendees.count() == SIGNUPS + 2
    assert attendees.filter(place=Place.REGISTERED).count() == CAPACITY
    assert Party.objects.get(pk=party.pk).seats_taken == CAPACITY
    waiting = waitlist_in_order(party)
    assert len(waiting) == SIGNUPS + 2 - CAPACITY
    assert_told_where_they_are(party, waiting)
    assert [a.email for a in waiting[-2:]] == ["late0@example.com", "late1@example.com"]
    assert PartyEvent.objects.filter(metric=PartyMetric.REGISTERED).count() == CAPACITY
