"""`manage.py sandbox_server`: the sandbox alone, on a port of its own."""

from __future__ import annotations

from django.conf import settings as django_settings

from klaviyo_sandbox.management.commands import sandbox_server


def test_serves_without_persistent_database_connections(monkeypatch):
    """runserver never closes a finished thread's database connections: with CONN_MAX_AGE
    each client connection would leave one open on the server."""
    # The command changes both for its process; restored after the test.
    monkeypatch.setattr(django_settings, "ROOT_URLCONF", django_settings.ROOT_URLCONF)
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
