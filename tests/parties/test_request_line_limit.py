"""A party whose attendees have long addresses reaches the list when Klaviyo is served by a real
HTTP server with a limit on the request line.

The sandbox runs under gunicorn in its own process, with gunicorn's default
`limit_request_line` (4,094 bytes): a read-back asking about 100 addresses of 60 characters
in one `any(email,[...])` filter is about 7 KB long, which gunicorn refuses with a 414. The
sync runs here, against it over HTTP, until every attendee is "In the list".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from django.utils import timezone

from parties import services, sync
from parties.models import Attendee, ListState, SyncState
from tests.support.parties import PARTY
from tests.support.processes import free_port, process_env, start_gunicorn, stop

ATTENDEES = 100
ADDRESS_LENGTH = 60

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])


@pytest.fixture
def sandbox_server(tmp_path, settings) -> Iterator[str]:
    """The sandbox alone under gunicorn (its default limits), sharing the test's sandbox
    database; the product talks to it over HTTP."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = process_env(SANDBOX_URL=url, SANDBOX_JOB_SECONDS="0", ALLOWED_HOSTS="127.0.0.1")
    server = start_gunicorn(
        "klaviyo_sandbox.wsgi",
        port=port,
        env=env,
        log=tmp_path / "sandbox.log",
        probe="/api/accounts/",  # any answer: it is up
    )
    try:
        settings.SANDBOX_URL = url
        settings.KLAVIYO_BASE_URL = url
        settings.PARTY_SYNC_WINDOW_SECONDS = 0
        yield url
    finally:
        stop(server)


def address(number: int) -> str:
    local = f"guest{number:03d}."
    return local + "x" * (ADDRESS_LENGTH - len(local) - len("@example.com")) + "@example.com"


def test_a_party_of_long_addresses_reaches_the_list_through_a_server_with_a_line_limit(
    sandbox_server, owner, sandbox_connection, caplog
):
    caplog.set_level(logging.INFO, logger="integrations.klaviyo.transport")
    party = services.party_create(
        membership=owner, connection=sandbox_connection(owner.organization), data=PARTY
    )
    now = timezone.now()
    Attendee.objects.bulk_create(
        Attendee(
            party=party,
            email=address(number),
            first_name="Guest",
            consented_at=now,
            marketing_consent=True,
        )
        for number in range(ATTENDEES)
    )
    emails = Attendee.objects.values_list("email", flat=True)
    assert {len(email) for email in emails} == {ADDRESS_LENGTH}

    deadline = time.monotonic() + 120
    while Attendee.objects.filter(sync_state=SyncState.SYNCED).count() < ATTENDEES:
        assert time.monotonic() < deadline, sorted(
            set(Attendee.objects.values_list("sync_state", "state_reason"))
        )
        sync.party_sync(party_id=party.pk)
        time.sleep(0.2)

    party.refresh_from_db()
    assert party.list_state == ListState.READY
    assert (party.sync_failures, party.read_back_error) == (0, "")
    # Never refused: every read-back fitted gunicorn's request line.
    refused = [r for r in caplog.records if getattr(r, "http_status", None) == 414]
    assert refused == []
