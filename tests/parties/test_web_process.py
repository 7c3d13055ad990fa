"""The web tier killed in the middle of a rush: every signup a person was told was accepted
is kept, and a person who retries after the restart is not signed up twice.

gunicorn runs as its own process group against the test database; it is killed with
SIGKILL (no graceful shutdown) while signups are in flight, then started again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection as db_connection

from parties.models import Attendee
from tests.support.processes import free_port, process_env, start_gunicorn, stop
from tests.support.signups import signup_over_http

SIGNUPS = 240

pytestmark = [
    pytest.mark.skipif(
        db_connection.vendor != "postgresql",
        reason="a web server process beside the test needs a database server: PostgreSQL",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", "sandbox"]),
]


def start_web(port: int, logs: Path, name: str) -> subprocess.Popen[bytes]:
    env = process_env(
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_COOKIES="false",  # plain http here
        SIGNUP_RATE_PER_IP="100000/m",
    )
    return start_gunicorn(
        "config.wsgi", port=port, env=env, log=logs / f"{name}.log", probe="/healthz"
    )


def test_signups_accepted_before_the_web_process_was_killed_are_all_kept(make_party, tmp_path):
    party = make_party()
    port = free_port()
    url = f"http://127.0.0.1:{port}/p/{party.slug}/"
    accepted: set[str] = set()
    lock = threading.Lock()

    def sign_up(number: int) -> bool:
        """One person's signup; True when they were told it worked (303 to the thanks page)."""
        email = f"rush{number}@example.com"
        if signup_over_http(url, email) == 303:
            with lock:
                accepted.add(email)
            return True
        return False

    first = start_web(port, tmp_path, "first")
    killed = threading.Event()

    def sign_up_in_the_rush(number: int) -> bool:
        """A signup of the rush; the web process is killed the moment a third are accepted."""
        told_it_worked = sign_up(number)
        with lock:
            if len(accepted) >= SIGNUPS // 3 and not killed.is_set():
                os.killpg(first.pid, signal.SIGKILL)
                killed.set()
        return told_it_worked

    with ThreadPoolExecutor(max_workers=8) as pool:
        rush = pool.map(sign_up_in_the_rush, range(SIGNUPS))
        first_try = dict(zip(range(SIGNUPS), rush, strict=True))
    if not killed.is_set():  # the rush ended before a third got in: stop it all the same
        os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert killed.is_set(), f"only {len(accepted)} of {SIGNUPS} accepted: the kill never came"
    before_restart = set(accepted)

    second = start_web(port, tmp_path, "second")
    try:
        # Whoever saw an error tries again, as a person would.
        retry = [number for number, ok in first_try.items() if not ok]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(sign_up, retry))
    finally:
        stop(second)

    kept = set(Attendee.objects.filter(party=party).values_list("email", flat=True))
    assert 0 < len(before_restart) < SIGNUPS  # the kill landed mid-rush
    assert before_restart <= kept  # nothing a person was told was accepted is lost
    assert len(accepted) == SIGNUPS  # and everyone got in once they retried
    assert Attendee.objects.filter(party=party).count() == SIGNUPS  # nobody twice
