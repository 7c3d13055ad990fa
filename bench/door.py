"""Scenario 4's door: a party of 10,000 guests as the check-in page at the door sees it.

The guests have the names and addresses of a real party's (first and last names, some with
accents, addresses at a handful of providers; each attendee's random check-in code), a third
of them checked in. Over real HTTP through the stack's gunicorn, as the organizer, after a few
unmeasured warm-up requests:

- the server search (`door:guest_search`, what a phone uses before its list is loaded): p50 and
  p95 over `SEARCHES` sequential searches of what staff type (two or three letters of a first
  or last name, a name and the start of another, the start of an address), against
  `SEARCH_P95_TARGET_MS`;
- the guest list a phone keeps (`door:guest_list`, gzip-compressed): its size compressed and
  not (target: under a megabyte compressed), and p50 / p95 over `LIST_REQUESTS` downloads.

The SQL queries per search are counted in this process (Django's test client against the
same databases): the same at 100 and at 10,000 guests. `guests_fill` is also what the unit
test of the list's size fills a party with (tests/door).
"""

from __future__ import annotations

import gzip
import random
import time
import uuid
from datetime import timedelta
from typing import Any

import requests

from bench.load import percentile
from bench.stack import target
from parties.search import fold

GUESTS = 10_000
SMALL = 100
SEARCHES = 200
LIST_REQUESTS = 20
WARM_UP = 10
TIMEOUT = 60.0
SEARCH_P95_TARGET_MS = 100.0
LIST_LIMIT_BYTES = 1_000_000
CHECKED_IN_SHARE = 3  # one guest in three

# fmt: off
FIRST_NAMES = (
    "Zoë", "Ana", "Bo", "Chloé", "Daniel", "Élodie", "Farah", "Gustav", "Hana", "Iñés", "Jonas",
    "Kai", "Léa", "Marta", "Noah", "Oskar", "Priya", "Quentin", "Rosa", "Søren", "Théo", "Uma",
    "Valentina", "Wei", "Ximena", "Yusuf", "Zainab", "Amélie", "Björn", "Camille", "Dmitri",
    "Emma", "François", "Greta", "Hugo", "Ingrid", "José", "Katarzyna", "Lukas", "Maëlle",
)
LAST_NAMES = (
    "Martin", "Ørsted", "Nguyen", "García", "Smith", "Müller", "Rossi", "Kowalski", "Dubois",
    "Jensen", "Okafor", "Silva", "Tanaka", "O'Brien", "Schmidt", "Łukasiewicz", "Fernández",
    "Johansson", "Petrović", "Haddad", "Novák", "Brown", "Leblanc", "Costa", "Yılmaz",  # noqa: RUF001
    "Wright", "Andersen", "Moreau", "Kim", "Hughes", "Lefèvre", "Bianchi", "Santos", "Walsh",
    "Kaur",
)
# fmt: on
DOMAINS = ("example.com", "mail.example.org", "example.net", "post.example", "inbox.example.co")


def person(number: int) -> tuple[str, str, str]:
    """The `number`th guest: a first name, a last name and an address of their own."""
    first = FIRST_NAMES[number % len(FIRST_NAMES)]
    last = LAST_NAMES[(number // len(FIRST_NAMES)) % len(LAST_NAMES)]
    local = "".join(fold(f"{first}.{last}{number}").split("'"))
    return first, last, f"{local}@{DOMAINS[number % len(DOMAINS)]}"


def guests_fill(party: Any, count: int, *, checked_in_by: Any) -> None:
    """`count` registered guests of the party, bulk-inserted, one in three checked in by
    `checked_in_by` (a user)."""
    from django.utils import timezone

    from door.models import CheckIn
    from parties.models import Attendee, SyncState
    from parties.search import search_words

    now = timezone.now()
    attendees = []
    for number in range(count):
        first, last, email = person(number)
        attendees.append(
            Attendee(
                party=party,
                email=email,
                first_name=first,
                last_name=last,
                door_search=search_words(first_name=first, last_name=last, email=email),
                consented_at=now,
                marketing_consent=True,
                sync_state=SyncState.SYNCED,
            )
        )
    Attendee.objects.bulk_create(attendees, batch_size=2000)
    guests = Attendee.objects.filter(party=party).order_by("pk").values_list("pk", flat=True)
    CheckIn.objects.bulk_create(
        [
            CheckIn(
                party=party,
                attendee_id=pk,
                client_id=uuid.uuid4(),
                checked_in_at=now - timedelta(minutes=number % 90),
                checked_in_by=checked_in_by,
                checked_in_by_name="Ana",
                announced_at=now,
            )
            for number, pk in enumerate(guests)
            if number % CHECKED_IN_SHARE == 0
        ],
        batch_size=2000,
    )


def typed(rng: random.Random) -> str:
    """What door staff type to find someone."""
    first, last, email = person(rng.randrange(GUESTS))
    return rng.choice(
        [
            first[: rng.randint(2, 3)],
            last[: rng.randint(2, 4)],
            f"{first} {last[:2]}",
            email[: rng.randint(4, 8)],
        ]
    )


def run(context: Any, session: requests.Session, *, membership: Any, connection: Any) -> dict:
    from bench.fixtures import party_with_list

    parties = {}
    for size in (SMALL, GUESTS):
        party = party_with_list(
            membership=membership, connection=connection, name=f"{size:,} guests at the door"
        )
        guests_fill(party, size, checked_in_by=membership.user)
        parties[size] = party
    large = parties[GUESTS]
    base = f"{context.base_url}/parties/{large.pk}/door"
    rng = random.Random(7)  # noqa: S311 (the same searches every run, no secret)
    searches = []
    for number in range(WARM_UP + SEARCHES):
        query = typed(rng)
        started = time.perf_counter()
        response = session.get(f"{base}/search/", params={"q": query}, timeout=TIMEOUT)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"the door's search answered {response.status_code}")
        if number >= WARM_UP:
            searches.append(elapsed)
    downloads = []
    compressed = plain = 0
    for number in range(WARM_UP + LIST_REQUESTS):
        started = time.perf_counter()
        response = session.get(
            f"{base}/guests.json",
            headers={"Accept-Encoding": "gzip"},
            stream=True,
            timeout=TIMEOUT,
        )
        body = response.raw.read()  # as sent: compressed
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or response.headers.get("Content-Encoding") != "gzip":
            raise RuntimeError(f"the guest list answered {response.status_code}, not gzip")
        if number >= WARM_UP:
            downloads.append(elapsed)
        compressed, plain = len(body), len(gzip.decompress(body))
    figures = {
        "guests": GUESTS,
        "search": summary(searches),
        "search_queries": {
            size: search_queries(party, membership.user) for size, party in parties.items()
        },
        "list": {
            **summary(downloads),
            "kb_gzip": round(compressed / 1024),
            "kb": round(plain / 1024),
        },
        "list_bytes_gzip": compressed,
    }
    print_table(figures)
    return figures


def summary(milliseconds: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(milliseconds, 0.50), 1),
        "p95": round(percentile(milliseconds, 0.95), 1),
    }


def search_queries(party: Any, user: Any) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(user)
    url = f"/parties/{party.pk}/door/search/"
    client.get(url, {"q": "zo"})  # the session settles its organization
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, {"q": "zo"})
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code} in process")
    return len(captured)


def print_table(figures: dict[str, Any]) -> None:
    search, listing = figures["search"], figures["list"]
    queries = figures["search_queries"]
    print()
    print(f"the door at {figures['guests']:,} guests ({SEARCHES} searches, {LIST_REQUESTS} lists)")
    print(f"  search p50 / p95 ms            {search['p50']} / {search['p95']}")
    print(f"  search SQL queries             {queries[SMALL]} at {SMALL:,}, ", end="")
    print(f"{queries[GUESTS]} at {GUESTS:,}")
    print(f"  guest list p50 / p95 ms        {listing['p50']} / {listing['p95']}")
    print(f"  guest list KB, gzip / plain    {listing['kb_gzip']} / {listing['kb']}")


def targets(figures: dict[str, Any]) -> list[dict[str, object]]:
    queries = figures["search_queries"]
    return [
        target(
            f"door search: p95 under {SEARCH_P95_TARGET_MS:g} ms at {GUESTS:,} guests",
            figures["search"]["p95"] < SEARCH_P95_TARGET_MS,
            f"p95 {figures['search']['p95']} ms (p50 {figures['search']['p50']})",
        ),
        target(
            f"door search: the same SQL queries at {SMALL:,} and {GUESTS:,} guests",
            queries[SMALL] == queries[GUESTS],
            f"{queries[SMALL]} and {queries[GUESTS]}",
        ),
        target(
            f"door guest list: under 1 MB compressed at {GUESTS:,} guests",
            figures["list_bytes_gzip"] < LIST_LIMIT_BYTES,
            f"{figures['list']['kb_gzip']} KB gzip ({figures['list']['kb']} KB plain)",
        ),
    ]
