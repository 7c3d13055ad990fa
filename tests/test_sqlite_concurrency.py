"""A web process and a task worker write to the embedded SQLite database at the same time.

The worker is a real `manage.py db_worker` process; the web side posts real sign-up forms
while it runs. With WAL, IMMEDIATE transactions and a busy timeout, neither side ever sees
"database is locked".
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from accounts.models import Organization, User
from tests.support.accounts import SIGNUP_URL, signup_data
from tests.support.tasks import write_organizations

BASE_DIR = Path(__file__).resolve().parent.parent
TASKS = 6
ROWS_PER_TASK = 50
MAX_SIGNUPS = 400


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the embedded database is SQLite")
@pytest.mark.django_db(transaction=True)
def test_web_requests_and_worker_tasks_write_at_the_same_time(client, settings):
    # A rush of sign-ups from one test client: the per-address signup limit is not under test.
    settings.ACCOUNT_SIGNUP_RATE_PER_IP = f"{MAX_SIGNUPS}/h"
    for number in range(TASKS):
        write_organizations.enqueue(count=ROWS_PER_TASK, label=f"worker-{number}")

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--batch",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    signups = 0
    deadline = time.monotonic() + 120
    try:
        while worker.poll() is None and signups < MAX_SIGNUPS and time.monotonic() < deadline:
            response = client.post(
                SIGNUP_URL,
                signup_data(email=f"rush{signups}@example.com", organization_name=f"web-{signups}"),
            )
            assert response.status_code == 302, response.content[:500]
            client.logout()
            signups += 1
        output, _ = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()

    assert worker.returncode == 0, output
    assert "locked" not in output.lower()
    assert DBTaskResult.objects.filter(status="SUCCESSFUL").count() == TASKS
    worker_rows = Organization.objects.filter(name__startswith="worker-")
    assert worker_rows.count() == TASKS * ROWS_PER_TASK
    assert User.objects.count() == signups
    # The two really overlapped: some sign-ups were written while the worker was writing.
    first, last = (
        worker_rows.order_by("created_at").first().created_at,
        worker_rows.order_by("created_at").last().created_at,
    )
    overlapping = Organization.objects.filter(
        name__startswith="web-", created_at__gt=first, created_at__lt=last
    ).count()
    assert overlapping > 0, (signups, overlapping)
