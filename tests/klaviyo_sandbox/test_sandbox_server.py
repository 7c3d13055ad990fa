"""`manage.py sandbox_server`: the sandbox alone, on a port of its own."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from klaviyo_sandbox.management.commands import sandbox_server


def test_serves_without_persistent_database_connections(monkeypatch):
    """runserver never closes a finished thread's database connections: with CONN_MAX_AGE
    each client connection would leave one open on the server."""
    # The command changes both for its process; restored after the test.
    monkeypatch.setattr(django_settings, "ROOT_URLCONF", django_settings.ROOT_URLCONF)
    monkeypatch.setattr(django_settings, "SANDBOX_JOBS_IN_BACKGROUND", False)
    started: list[object] = []
    monkeypatch.setattr(
        sandbox_server.threading.Thread, "start", lambda thread: started.append(thread)
    )
    for database in django_settings.DATABASES.values():
        monkeypatch.setitem(database, "CONN_MAX_AGE", 60)
    served: list[dict[str, object]] = []

    def call_command(name: str, *args: object, **options: object) -> None:
        if name == "runserver":
            served.append(
                {alias: db["CONN_MAX_AGE"] for alias, db in django_settings.DATABASES.items()}
            )

    monkeypatch.setattr(sandbox_server, "call_command", call_command)

    sandbox_server.Command().handle(host="127.0.0.1", port=8100, noreload=True)

    assert served == [dict.fromkeys(django_settings.DATABASES, 0)]
    # Jobs are applied by a thread of its own, not in the requests that poll them.
    assert django_settings.SANDBOX_JOBS_IN_BACKGROUND is True
    assert [thread.name for thread in started] == ["sandbox-jobs"]


def test_the_job_thread_outlives_a_failed_pass(monkeypatch, caplog):
    passes: list[int] = []

    def jobs_process_due() -> int:
        passes.append(1)
        raise RuntimeError("database went away")

    class Stop(Exception):
        pass

    def sleep(_seconds: float) -> None:
        if len(passes) == 2:
            raise Stop

    monkeypatch.setattr(sandbox_server, "jobs_process_due", jobs_process_due)
    monkeypatch.setattr(sandbox_server.time, "sleep", sleep)

    with pytest.raises(Stop):
        sandbox_server.apply_jobs_forever()

    assert len(passes) == 2
    assert "could not apply its due jobs" in caplog.text
