"""Keep-alive: Klaviyo revokes a refresh token unused for 90 days, so idle connections are
refreshed by the worker long before that, spread over time.

Time is moved, not waited for: the sandbox's clock is advanced and the product's timestamps
are moved back by the same amount.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from integrations import tasks, tokens
from integrations.clients import klaviyo_client
from integrations.errors import ConnectionUnusable
from integrations.models import ConnectionStatus, EventKind, KlaviyoConnection
from klaviyo_sandbox import testing
from tests.support.workers import run_queued_tasks

DAY = 86_400


def days_pass(days: int) -> None:
    """`days` go by for Klaviyo (the sandbox) and for every connection's timestamps."""
    testing.advance(days * DAY)
    shift = timedelta(days=days)
    KlaviyoConnection.objects.update(
        connected_at=F("connected_at") - shift,
        last_refreshed_at=F("last_refreshed_at") - shift,
        access_token_expires_at=F("access_token_expires_at") - shift,
    )


def keep_alive_pass() -> dict[str, int]:
    """The hourly pass, then the refreshes it spread over the next hour, as the worker runs them."""
    report = tasks.keep_alive_now()
    run_queued_tasks(include_deferred=True)
    return report


def queued_keep_alives() -> list[DBTaskResult]:
    return list(
        DBTaskResult.objects.filter(
            status=TaskResultStatus.READY, task_path=tasks.keep_alive_connection.module_path
        ).order_by("run_after")
    )


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_a_quiet_connection_is_kept_alive_past_klaviyos_90_days(sandbox, sandbox_connection):
    connection = sandbox_connection()
    token_calls = testing.call_count("POST", "/oauth/token")

    for _ in range(4):  # 124 days without a single API call
        days_pass(31)
        assert keep_alive_pass()["queued"] == 1

    assert testing.call_count("POST", "/oauth/token", status=200) - token_calls == 4
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.last_refreshed_at > timezone.now() - timedelta(minutes=5)
    reasons = list(
        connection.events.filter(kind=EventKind.REFRESHED).values_list("reason", flat=True)
    )
    assert reasons == ["Kept alive after 31 days without a refresh"] * 4
    # And the tenant's next party finds it working: an API call with its tokens succeeds.
    assert klaviyo_client(connection=connection).get_account().id == testing.ACME


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_without_keep_alive_klaviyo_forgets_a_connection_unused_for_90_days(
    sandbox, sandbox_connection
):
    """What the keep-alive prevents (the sandbox enforces Klaviyo's 90 days)."""
    connection = sandbox_connection()
    days_pass(91)

    with pytest.raises(ConnectionUnusable):
        tokens.refresh_now(connection=connection)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_a_recently_refreshed_connection_is_not_refreshed(sandbox, sandbox_connection):
    sandbox_connection()
    days_pass(29)
    token_calls = testing.call_count("POST", "/oauth/token")

    assert keep_alive_pass()["queued"] == 0

    assert testing.call_count("POST", "/oauth/token") == token_calls


@pytest.mark.django_db
def test_a_connection_refreshed_after_its_keep_alive_was_queued_is_left_alone(make_connection):
    connection = make_connection(last_refreshed_at=timezone.now() - timedelta(days=40))
    tasks.keep_alive_now()
    KlaviyoConnection.objects.filter(pk=connection.pk).update(last_refreshed_at=timezone.now())

    assert tasks.keep_alive_connection.call(connection_id=connection.pk) == "not needed"


@pytest.mark.django_db
def test_only_active_connections_are_kept_alive(make_connection):
    long_ago = timezone.now() - timedelta(days=40)
    idle = make_connection(last_refreshed_at=long_ago)
    make_connection(last_refreshed_at=long_ago, status=ConnectionStatus.NEEDS_RECONNECT)
    make_connection(last_refreshed_at=long_ago, status=ConnectionStatus.REVOKED)
    never_refreshed = make_connection(connected_at=long_ago)

    tasks.keep_alive_now()

    assert {task.args_kwargs["kwargs"]["connection_id"] for task in queued_keep_alives()} == {
        idle.pk,
        never_refreshed.pk,
    }


@pytest.mark.django_db
def test_a_thousand_idle_connections_are_not_refreshed_in_one_minute(make_org):
    organization = make_org()
    long_ago = timezone.now() - timedelta(days=31)
    KlaviyoConnection.objects.bulk_create(
        KlaviyoConnection(
            organization=organization,
            klaviyo_account_id=f"ACC{number:04d}",
            access_token="access",
            refresh_token="refresh",
            last_refreshed_at=long_ago,
        )
        for number in range(1000)
    )
    started = timezone.now()

    assert tasks.keep_alive_now()["queued"] == 1000

    offsets = [(task.run_after - started).total_seconds() for task in queued_keep_alives()]
    assert len(offsets) == 1000
    busiest_minute = max(
        sum(1 for other in offsets if offset <= other < offset + 60) for offset in offsets
    )
    assert busiest_minute <= tasks.KEEPALIVE_PER_MINUTE + 1
    assert offsets[-1] - offsets[0] > 90 * 60  # spread over more than an hour and a half
    # A second pass (the next hour) queues none of them again.
    assert tasks.keep_alive_now() == {"queued": 0, "already_queued": 1000}


@pytest.mark.django_db
def test_the_keep_alive_pass_schedules_the_next_even_when_it_fails(monkeypatch):
    def broken() -> dict[str, int]:
        raise RuntimeError("database blip")

    monkeypatch.setattr(tasks, "keep_alive_now", broken)

    with pytest.raises(RuntimeError):
        tasks.keep_alive.call(reschedule=True)

    (next_pass,) = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=tasks.keep_alive.module_path
    )
    assert next_pass.run_after > timezone.now() + timedelta(minutes=59)


@pytest.mark.django_db
def test_klaviyo_sync_schedule_starts_one_keep_alive_chain():
    for _ in range(2):
        output = StringIO()
        call_command("klaviyo_sync", "--schedule", stdout=output)

    assert "Connection keep-alive already queued." in output.getvalue()
    assert (
        DBTaskResult.objects.filter(
            status=TaskResultStatus.READY, task_path=tasks.keep_alive.module_path
        ).count()
        == 1
    )


@pytest.mark.django_db
def test_klaviyo_keepalive_command_queues_the_idle_connections(make_connection):
    make_connection(last_refreshed_at=timezone.now() - timedelta(days=45))
    make_connection()
    output = StringIO()

    call_command("klaviyo_keepalive", stdout=output)

    assert "Queued 1 keep-alive refreshes" in output.getvalue()
    assert len(queued_keep_alives()) == 1
