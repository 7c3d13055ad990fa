"""`manage.py klaviyo_doctor`: each misconfiguration is reported with its fix and fails the run
(exit status 1, so it can gate a deploy); a healthy setup passes."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core.periodic import periodic_tasks_schedule
from integrations import checks, doctor
from integrations.klaviyo.config import DEFAULT_SCOPES, LIST_SCOPES
from integrations.klaviyo.revision import revision_status
from parties import tasks
from tests.support.workers import run_queued_tasks

CALLBACK = "/integrations/klaviyo/callback/"


def run_doctor(*args: str) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("klaviyo_doctor", *args, stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def line_of(output: str, title: str) -> str:
    return next(line for line in output.splitlines() if f"  {title}  " in f"{line}  ")


def months_ago(months: int) -> str:
    today = timezone.localdate()
    year, month = divmod(today.month - 1 - months, 12)
    return date(today.year + year, month + 1, 1).isoformat()


@pytest.fixture
def healthy(db):
    """A worker has just run the periodic sweep (and every other app's periodic pass), which
    queued its next run."""
    tasks.schedule_sweep()
    periodic_tasks_schedule()
    run_queued_tasks()
    assert DBTaskResult.objects.filter(task_path=tasks.sweep.module_path).count() == 2


def assert_fails(title: str, *words: str) -> str:
    output, error = run_doctor()
    assert error is not None, output
    assert error.returncode == 1
    assert title in str(error)
    line = line_of(output, title)
    assert line.startswith("FAIL"), output
    for word in words:
        assert word in output
    # Only the broken check fails.
    assert sum(line.startswith("FAIL") for line in output.splitlines()) == 1, output
    return output


def test_a_healthy_setup_passes(healthy):
    output, error = run_doctor()

    assert error is None, output
    assert "All 11 checks passed" in output
    assert "test-worker worked on a task" in line_of(output, "Task worker")


@pytest.mark.django_db
def test_pre_deploy_run_can_skip_the_runtime_checks():
    output, error = run_doctor(
        "--skip", "worker", "--skip", "sweep", "--skip", "privacy", "--skip", "door"
    )

    assert error is None, output
    assert "All 7 checks passed" in output


def test_missing_credentials_fail_unless_sandbox_mode_is_on(healthy, settings):
    settings.KLAVIYO_SANDBOX = False
    settings.KLAVIYO_CLIENT_ID = "real-client-id"
    settings.KLAVIYO_CLIENT_SECRET = ""
    settings.KLAVIYO_REDIRECT_URI = f"https://partyline.example.com{CALLBACK}"

    assert_fails("Client id and secret", "KLAVIYO_CLIENT_SECRET is not set", "Fix:")


def test_real_credentials_pass(healthy, settings):
    settings.KLAVIYO_SANDBOX = False
    settings.KLAVIYO_CLIENT_ID = "real-client-id"
    settings.KLAVIYO_CLIENT_SECRET = "real-client-secret"
    settings.KLAVIYO_REDIRECT_URI = f"https://partyline.example.com{CALLBACK}"

    output, error = run_doctor()

    assert error is None, output
    assert "real-client-secret" not in output


@pytest.mark.parametrize(
    ("redirect_uri", "problem"),
    [
        (f"http://partyline.example.com{CALLBACK}", "is not https"),
        (CALLBACK, "is not an absolute URL"),
        ("https://partyline.example.com/oauth/callback", "does not lead to Partyline's callback"),
    ],
)
def test_a_bad_redirect_uri_fails_outside_debug(healthy, settings, redirect_uri, problem):
    settings.DEBUG = False
    settings.KLAVIYO_REDIRECT_URI = redirect_uri

    assert_fails("Redirect URI", problem, "Fix: Set KLAVIYO_REDIRECT_URI=https://<your host>")


def test_plain_http_redirect_uri_is_fine_in_debug(healthy, settings):
    settings.DEBUG = True
    settings.KLAVIYO_REDIRECT_URI = f"http://127.0.0.1:8000{CALLBACK}"

    output, error = run_doctor()

    assert error is None, output


def test_a_relative_redirect_uri_is_a_bad_redirect_uri_even_in_debug(healthy, settings):
    settings.DEBUG = True
    settings.KLAVIYO_REDIRECT_URI = "relative/callback"

    output = assert_fails(
        "Redirect URI",
        "KLAVIYO_REDIRECT_URI=relative/callback is not an absolute URL (integrations.E002)",
    )
    assert "SITE_URL" not in line_of(output, "Redirect URI")


def test_an_unset_redirect_uri_with_real_credentials_outside_debug_warns(healthy, settings):
    settings.DEBUG = False
    settings.KLAVIYO_SANDBOX = False
    settings.KLAVIYO_CLIENT_ID = "real-client-id"
    settings.KLAVIYO_CLIENT_SECRET = "real-client-secret"
    settings.KLAVIYO_REDIRECT_URI = None
    settings.SITE_URL = "https://partyline.example.com"

    output, error = run_doctor()

    # The same verdict as `manage.py check` (integrations.W001): the URI derived from each
    # request works when the request's host is the allowlisted one.
    assert error is None, output
    line = line_of(output, "Redirect URI")
    assert line.startswith("WARN")
    assert "KLAVIYO_REDIRECT_URI is not set" in line
    assert "(integrations.W001)" in line


def test_the_doctor_reports_what_the_system_checks_say(healthy, settings):
    settings.KLAVIYO_SCOPES = f"{' '.join(DEFAULT_SCOPES)} segments:read"
    assert [message.id for message in run_checks(tags=[checks.SCOPES])] == ["integrations.W003"]

    output, _ = run_doctor()
    assert "(integrations.W003)" in line_of(output, "Scopes")

    # Silenced the way every system check is, it is silenced in the doctor too.
    settings.SILENCED_SYSTEM_CHECKS = [*settings.SILENCED_SYSTEM_CHECKS, "integrations.W003"]
    output, _ = run_doctor()
    assert line_of(output, "Scopes").startswith("OK")


def test_a_site_url_pointing_at_this_machine_warns_outside_debug(healthy, settings):
    settings.DEBUG = False
    settings.KLAVIYO_SANDBOX = False
    settings.KLAVIYO_CLIENT_ID = "real-client-id"
    settings.KLAVIYO_CLIENT_SECRET = "real-client-secret"
    settings.KLAVIYO_REDIRECT_URI = f"https://partyline.example.com{CALLBACK}"
    settings.SITE_URL = "http://127.0.0.1:8000"

    output, error = run_doctor()

    assert error is None, output
    line = line_of(output, "Site URL")
    assert line.startswith("WARN")
    assert "SITE_URL is http://127.0.0.1:8000" in line


def test_scopes_missing_what_the_product_needs_fail(healthy, settings):
    settings.KLAVIYO_SCOPES = "accounts:read lists:read lists:write"

    assert_fails(
        "Scopes", "lacks profiles:read, profiles:write, subscriptions:write", "KLAVIYO_SCOPES="
    )


def test_scopes_lacking_event_scopes_only_warn(healthy, settings):
    settings.KLAVIYO_SCOPES = " ".join(LIST_SCOPES)

    output, error = run_doctor()

    assert error is None, output
    line = line_of(output, "Scopes")
    assert line.startswith("WARN")
    assert "events:write, events:read, metrics:read, flows:read" in line
    assert "(integrations.W006)" in line


def test_extra_scopes_only_warn(healthy, settings):
    settings.KLAVIYO_SCOPES = f"{' '.join(DEFAULT_SCOPES)} segments:read"

    output, error = run_doctor()

    assert error is None, output
    assert line_of(output, "Scopes").startswith("WARN")
    assert "segments:read" in output


@pytest.mark.parametrize("revision", ["2026-7-15", "latest", "2026-02-30", "2026-07-15.beta"])
def test_a_malformed_revision_fails(healthy, settings, revision):
    settings.KLAVIYO_REVISION = revision

    assert_fails("API revision", "is not a revision (YYYY-MM-DD or YYYY-MM-DD.pre)")


def test_a_revision_18_months_old_warns_that_it_should_be_updated(healthy, settings):
    settings.KLAVIYO_REVISION = months_ago(19)

    output, error = run_doctor()

    assert error is None, output  # still supported: the deploy goes ahead
    line = line_of(output, "API revision")
    assert line.startswith("WARN")
    assert "is 19 months old and should be updated" in output
    assert "about 24 months" in output
    assert "set KLAVIYO_REVISION" in output


def test_a_revision_past_the_support_window_fails(healthy, settings):
    settings.KLAVIYO_REVISION = months_ago(30)

    assert_fails("API revision", "past Klaviyo's support window")


def test_a_revision_from_the_future_fails(healthy, settings):
    settings.KLAVIYO_REVISION = (timezone.localdate() + timedelta(days=40)).isoformat()

    assert_fails("API revision", "dated in the future")


def test_a_recent_beta_revision_only_warns_outside_debug(healthy, settings):
    settings.KLAVIYO_REVISION = f"{months_ago(2)}.pre"

    output, error = run_doctor()

    assert error is None, output
    line = line_of(output, "API revision")
    assert line.startswith("WARN")
    assert "beta revision (2 months old)" in line


def test_tokens_the_keys_cannot_read_are_counted_never_shown(healthy, settings, make_connection):
    make_connection(access_token="secret-access-xyz", refresh_token="secret-refresh-xyz")
    make_connection()
    settings.SECRET_KEY = "a-different-secret-key"

    output = assert_fails(
        "Encryption keys",
        "4 of 4 stored encrypted values cannot be decrypted",
        "integrations.KlaviyoConnection.access_token: 2",
        "SECRET_KEY_FALLBACKS",
    )
    assert "secret-access-xyz" not in output
    assert "secret-refresh-xyz" not in output
    assert "gAAAA" not in output  # no ciphertext either


def test_tokens_under_a_fallback_key_pass(healthy, settings, make_connection):
    make_connection()
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "the-new-secret-key"
    settings.SECRET_KEY_FALLBACKS = [old_key]

    output, error = run_doctor()

    assert error is None, output
    assert "2 are under an older key" in line_of(output, "Encryption keys")


class UnreachableDatabase:
    vendor = "postgresql"

    def cursor(self):
        raise OperationalError("could not connect to server: Connection refused")


def test_an_unreachable_database_fails(healthy, monkeypatch):
    monkeypatch.setattr(doctor, "connections", {"default": UnreachableDatabase()})

    assert_fails("Database", "does not answer (OperationalError)", "DATABASE_URL")


def test_unapplied_migrations_fail(healthy, monkeypatch):
    monkeypatch.setattr(
        doctor.MigrationExecutor, "migration_plan", lambda self, targets: [("a", False)]
    )

    assert_fails("Database", "1 migration(s) are not applied", "manage.py migrate")


@pytest.mark.django_db
def test_no_worker_ever_seen_fails():
    tasks.schedule_sweep()
    periodic_tasks_schedule()

    assert_fails("Task worker", "no worker has ever run a task", "db_worker")


def test_a_worker_not_seen_for_minutes_fails(healthy):
    long_ago = timezone.now() - timedelta(minutes=5)
    DBTaskResult.objects.exclude(started_at=None).update(started_at=long_ago, finished_at=long_ago)

    assert_fails("Task worker", "no worker has started or finished a task for 5 minutes")


def test_no_periodic_sweep_queued_fails(healthy):
    DBTaskResult.objects.filter(status="READY", task_path=tasks.sweep.module_path).delete()

    assert_fails("Periodic sweep", "no periodic sweep is queued", "klaviyo_sync --schedule")


def test_no_personal_data_pass_queued_fails(healthy):
    DBTaskResult.objects.filter(status="READY", task_path__startswith="privacy.").delete()

    assert_fails("Personal-data pass", "no personal-data pass is queued", "klaviyo_sync --schedule")


@pytest.mark.parametrize(
    ("revision", "today", "months"),
    [
        ("2026-07-15", date(2026, 11, 27), 4),
        ("2026-07-15", date(2026, 8, 14), 0),
        ("2026-07-15", date(2028, 1, 14), 17),
        ("2026-07-15", date(2028, 1, 15), 18),
        ("2026-07-15.pre", date(2026, 11, 27), 4),
    ],
)
def test_revision_age_is_counted_in_whole_months(revision, today, months):
    assert revision_status(revision, today=today).age_months == months
