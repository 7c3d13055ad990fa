"""`manage.py klaviyo_doctor`: is this deployment ready to work with Klaviyo?

Each check returns a `CheckResult`: what it found and, when something is wrong, what to do.
The configuration is judged by the Django system checks of `integrations.checks`, run through
Django's check framework one topic (tag) at a time, so a verdict is written once and the
doctor and `manage.py check` agree. The live checks (database, keys, worker, periodic tasks)
are the doctor's own. A check that cannot run (its database is unreachable) fails rather than
passing silently. The checks read only: no call to Klaviyo, no write to the database, no
secret printed. The periodic tasks a worker must keep queued are registered by the apps that
own them (`periodic_task_register`, from their AppConfig.ready()), so the doctor imports no
app above it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import partial

from django.conf import settings
from django.core import checks as django_checks
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Max
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from core.periodic import periodic_tasks
from core.wording import wait_text
from integrations import checks
from integrations.keys import encrypted_values_rotate
from integrations.klaviyo.config import klaviyo_config
from integrations.klaviyo.revision import UPDATE_AFTER_MONTHS, revision_status

# A worker counts as alive when it started or finished a task this recently. An idle worker
# still runs the periodic sweep every SYNC_SWEEP_INTERVAL_SECONDS, so the window is a minute
# or that interval, whichever is longer, plus a little slack for the sweep's own run.
WORKER_SEEN_WITHIN_SECONDS = 60
WORKER_SLACK_SECONDS = 30

START_WORKER = (
    "Start a worker: manage.py db_worker --no-reload --queue-name '*', under a supervisor "
    "(README: Workers and faults)."
)


class Outcome(StrEnum):
    OK = "ok"
    WARN = "warn"  # worth knowing; does not fail the doctor
    FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    name: str
    title: str
    outcome: Outcome
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == Outcome.FAIL


def _ok(name: str, title: str, detail: str) -> CheckResult:
    return CheckResult(name, title, Outcome.OK, detail)


def _fail(name: str, title: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, title, Outcome.FAIL, detail, fix)


def _database_error(name: str, title: str, error: DatabaseError) -> CheckResult:
    first_line = (str(error).strip().splitlines() or [""])[0][:200]
    return _fail(
        name,
        title,
        f"could not read the database ({type(error).__name__}: {first_line})",
        "Make the database reachable and migrated (see the database check), then run the "
        "doctor again.",
    )


# --- Configuration: Django's system checks, one topic per line -------------------------------


@dataclass(frozen=True)
class SettingsTopic:
    """The system checks tagged `tag`, shown under `title`; `describe` says what is set."""

    title: str
    tag: str
    describe: Callable[[], str]


def _credentials() -> str:
    if settings.KLAVIYO_SANDBOX:
        return (
            "sandbox mode is on (KLAVIYO_SANDBOX): Partyline talks to the built-in sandbox "
            "Klaviyo with its development credentials, never to Klaviyo"
        )
    return "KLAVIYO_CLIENT_ID and KLAVIYO_CLIENT_SECRET are set"


def _redirect_uri() -> str:
    uri = klaviyo_config().redirect_uri
    return (
        f"KLAVIYO_REDIRECT_URI={uri}"
        if uri
        else "KLAVIYO_REDIRECT_URI is not set: derived from each request's host"
    )


def _revision() -> str:
    status = revision_status(klaviyo_config().revision, today=timezone.localdate())
    return (
        f"{status.revision}, {status.age_text} (update it when it is {UPDATE_AFTER_MONTHS} "
        "months old)"
    )


SETTINGS_TOPICS: dict[str, SettingsTopic] = {
    "credentials": SettingsTopic("Client id and secret", checks.CREDENTIALS, _credentials),
    "redirect_uri": SettingsTopic("Redirect URI", checks.REDIRECT_URI, _redirect_uri),
    "scopes": SettingsTopic("Scopes", checks.SCOPES, lambda: " ".join(klaviyo_config().scopes)),
    "revision": SettingsTopic("API revision", checks.REVISION, _revision),
    "site_url": SettingsTopic("Site URL", checks.SITE_URL, lambda: f"SITE_URL={settings.SITE_URL}"),
}


def check_settings(name: str) -> CheckResult:
    """Run one topic's system checks (deployment checks included) and report them as one line:
    its worst message decides, and every message is shown with its id and hint."""
    topic = SETTINGS_TOPICS[name]
    messages = [
        message
        for message in django_checks.run_checks(tags=[topic.tag], include_deployment_checks=True)
        if not message.is_silenced() and message.level >= django_checks.WARNING
    ]
    if not messages:
        return _ok(name, topic.title, topic.describe())
    worst = max(message.level for message in messages)
    outcome = Outcome.FAIL if worst >= django_checks.ERROR else Outcome.WARN
    return CheckResult(
        name,
        topic.title,
        outcome,
        "; ".join(f"{message.msg.rstrip('.')} ({message.id})" for message in messages),
        " ".join(message.hint for message in messages if message.hint),
    )


# --- Storage and workers ---------------------------------------------------------------------


def check_database() -> CheckResult:
    name, title = "database", "Database"
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        executor = MigrationExecutor(connection)
        unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        return _fail(
            name,
            title,
            f"the database does not answer ({type(error).__name__})",
            "Check DATABASE_URL and that the database server is running and reachable.",
        )
    if unapplied:
        return _fail(
            name,
            title,
            f"the database answers but {len(unapplied)} migration(s) are not applied",
            "Run manage.py migrate.",
        )
    return _ok(name, title, f"{connection.vendor} answers; every migration is applied")


def check_encryption_keys() -> CheckResult:
    name, title = "encryption", "Encryption keys"
    try:
        # A dry run of the key rotation reads every stored ciphertext with every configured
        # key and writes nothing; values are counted, never shown.
        report = encrypted_values_rotate(dry_run=True)
    except DatabaseError as error:
        return _database_error(name, title, error)
    stored = report.rotated + report.current + report.unreadable
    if report.unreadable:
        where = ", ".join(
            f"{column.label}: {column.unreadable}" for column in report.columns if column.unreadable
        )
        return _fail(
            name,
            title,
            f"{report.unreadable} of {stored} stored encrypted values cannot be decrypted with "
            f"SECRET_KEY, SECRET_KEY_FALLBACKS and SALT_KEY ({where})",
            "Restore the key they were encrypted with (put it back in SECRET_KEY_FALLBACKS or "
            "SALT_KEY's list) and restart; manage.py rotate_encryption_keys names the rows. "
            "Connections whose tokens stay unreadable must reconnect.",
        )
    detail = (
        f"all {stored} stored encrypted values can be decrypted"
        if stored
        else "no encrypted values stored yet"
    )
    if report.rotated:
        detail += (
            f"; {report.rotated} are under an older key (manage.py rotate_encryption_keys "
            "moves them to the newest)"
        )
    return _ok(name, title, detail)


def _worker_window() -> timedelta:
    seconds = max(WORKER_SEEN_WITHIN_SECONDS, settings.SYNC_SWEEP_INTERVAL_SECONDS)
    return timedelta(seconds=seconds + WORKER_SLACK_SECONDS)


def check_worker() -> CheckResult:
    name, title = "worker", "Task worker"
    try:
        seen = DBTaskResult.objects.aggregate(
            started=Max("started_at"), finished=Max("finished_at")
        )
        latest = (
            DBTaskResult.objects.exclude(started_at=None)
            .order_by("-started_at")
            .values_list("worker_ids", flat=True)
            .first()
        )
    except DatabaseError as error:
        return _database_error(name, title, error)
    moments = [moment for moment in (seen["started"], seen["finished"]) if moment is not None]
    if not moments:
        return _fail(name, title, "no worker has ever run a task here", START_WORKER)
    ago = timezone.now() - max(moments)
    worker = latest[-1] if latest else "a worker"
    seconds = max(int(ago.total_seconds()), 0)
    window = _worker_window()
    if ago > window:
        return _fail(
            name,
            title,
            f"no worker has started or finished a task for {wait_text(seconds)} (the last "
            f"was {worker}); an idle worker runs the sweep at least every "
            f"{int(window.total_seconds()) - WORKER_SLACK_SECONDS} s",
            START_WORKER,
        )
    return _ok(name, title, f"{worker} worked on a task {wait_text(seconds)} ago")


def check_periodic_task(name: str) -> CheckResult:
    periodic_task = periodic_tasks()[name]
    title = periodic_task.title
    try:
        planned = (
            DBTaskResult.objects.filter(
                task_path=periodic_task.task_path,
                status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
            )
            .order_by("run_after")
            .values_list("status", "run_after")
            .first()
        )
    except DatabaseError as error:
        return _database_error(name, title, error)
    if planned is None:
        return _fail(name, title, periodic_task.missing, periodic_task.schedule)
    status, run_after = planned
    if status == TaskResultStatus.RUNNING:
        return _ok(name, title, "it is running now (it queues its next run when done)")
    return _ok(name, title, f"the next run is queued for {run_after:%Y-%m-%d %H:%M:%S %Z}")


def doctor_checks() -> dict[str, Callable[[], CheckResult]]:
    """Every check by name, in the order they are shown."""
    found: dict[str, Callable[[], CheckResult]] = {
        name: partial(check_settings, name) for name in SETTINGS_TOPICS
    }
    found |= {
        "database": check_database,
        "encryption": check_encryption_keys,
        "worker": check_worker,
    }
    found |= {name: partial(check_periodic_task, name) for name in periodic_tasks()}
    return found


def doctor_run(*, skip: Collection[str] = ()) -> list[CheckResult]:
    """Run every check not in `skip`, in order."""
    return [check() for name, check in doctor_checks().items() if name not in skip]
