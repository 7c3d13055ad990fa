"""`manage.py klaviyo_doctor`: is this deployment ready to work with Klaviyo?

Each check returns a `CheckResult`: what it found and, when something is wrong, what to do.
A check that cannot run (its database is unreachable) fails rather than passing silently.
The checks read only: no call to Klaviyo, no write to the database, no secret printed.
Like the commands, this sits above the apps: it looks at the parties' queue too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Max
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from integrations.keys import encrypted_values_rotate
from integrations.klaviyo.config import DEFAULT_REVISION, DEFAULT_SCOPES, klaviyo_config
from integrations.klaviyo.revision import SUPPORT_MONTHS, UPDATE_AFTER_MONTHS, revision_status
from parties.tasks import sweep

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


def _warn(name: str, title: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, title, Outcome.WARN, detail, fix)


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


# --- Configuration ---------------------------------------------------------------------------


def check_credentials() -> CheckResult:
    name, title = "credentials", "Client id and secret"
    if settings.KLAVIYO_SANDBOX:
        return _ok(
            name,
            title,
            "sandbox mode is on (KLAVIYO_SANDBOX): Partyline talks to the built-in sandbox "
            "Klaviyo with its development credentials, never to Klaviyo",
        )
    config = klaviyo_config()
    missing = [
        variable
        for variable, value in [
            ("KLAVIYO_CLIENT_ID", config.client_id),
            ("KLAVIYO_CLIENT_SECRET", config.client_secret),
        ]
        if not value
    ]
    if missing:
        return _fail(
            name,
            title,
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set",
            "Set KLAVIYO_CLIENT_ID and KLAVIYO_CLIENT_SECRET to your Klaviyo OAuth app's "
            "credentials, or KLAVIYO_SANDBOX=true to run against the sandbox Klaviyo.",
        )
    return _ok(name, title, "KLAVIYO_CLIENT_ID and KLAVIYO_CLIENT_SECRET are set")


def check_redirect_uri() -> CheckResult:
    name, title = "redirect_uri", "Redirect URI"
    callback_path = reverse("integrations:klaviyo_callback")
    example = f"https://<your host>{callback_path}"
    uri = klaviyo_config().redirect_uri
    if not uri:
        if settings.DEBUG or settings.KLAVIYO_SANDBOX:
            return _ok(
                name, title, "KLAVIYO_REDIRECT_URI is not set: derived from each request's host"
            )
        return _fail(
            name,
            title,
            "KLAVIYO_REDIRECT_URI is not set, so the callback URL is derived from each "
            "request's host, which Klaviyo's allowlist must match exactly",
            f"Set KLAVIYO_REDIRECT_URI={example}, exactly as allowlisted in the Klaviyo app.",
        )
    parts = urlsplit(uri)
    fix = f"Set KLAVIYO_REDIRECT_URI={example}, exactly as allowlisted in the Klaviyo app."
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return _fail(name, title, f"KLAVIYO_REDIRECT_URI={uri} is not an absolute URL", fix)
    if parts.scheme != "https" and not settings.DEBUG:
        return _fail(
            name,
            title,
            f"KLAVIYO_REDIRECT_URI={uri} is not https: the authorization code would travel "
            "in clear text",
            fix,
        )
    if parts.fragment:
        return _fail(name, title, f"KLAVIYO_REDIRECT_URI={uri} has a #fragment", fix)
    try:
        is_callback = resolve(parts.path).view_name == "integrations:klaviyo_callback"
    except Resolver404:
        is_callback = False
    if not is_callback:
        return _fail(
            name,
            title,
            f"KLAVIYO_REDIRECT_URI={uri} does not lead to Partyline's callback ({callback_path})",
            fix,
        )
    return _ok(name, title, f"KLAVIYO_REDIRECT_URI={uri}")


def check_scopes() -> CheckResult:
    name, title = "scopes", "Scopes"
    requested = klaviyo_config().scopes
    missing = [scope for scope in DEFAULT_SCOPES if scope not in requested]
    if missing:
        return _fail(
            name,
            title,
            f"KLAVIYO_SCOPES lacks {', '.join(missing)}, which Partyline needs",
            f"Set KLAVIYO_SCOPES={' '.join(DEFAULT_SCOPES)!r} (or unset it), and give the "
            "Klaviyo app those scopes; connected accounts gain them when they reconnect.",
        )
    extra = [scope for scope in requested if scope not in DEFAULT_SCOPES]
    if extra:
        return _warn(
            name,
            title,
            f"also requests {', '.join(extra)}, which Partyline never uses",
            "Ask for the least the product needs: remove them from KLAVIYO_SCOPES.",
        )
    return _ok(name, title, " ".join(requested))


def check_revision(*, today: date | None = None) -> CheckResult:
    name, title = "revision", "API revision"
    status = revision_status(klaviyo_config().revision, today=today or timezone.localdate())
    revision = status.revision
    update = (
        "Test Partyline against a newer Klaviyo revision (the OpenAPI spec and changelog list "
        "them) and set KLAVIYO_REVISION to it."
    )
    if not status.is_valid:
        return _fail(
            name,
            title,
            f"KLAVIYO_REVISION={revision!r} is not a revision (YYYY-MM-DD or YYYY-MM-DD.pre)",
            f"Set KLAVIYO_REVISION to a released revision, such as {DEFAULT_REVISION}.",
        )
    if status.is_future:
        return _fail(
            name,
            title,
            f"KLAVIYO_REVISION={revision} is dated in the future: Klaviyo has not released it",
            f"Set KLAVIYO_REVISION to a released revision, such as {DEFAULT_REVISION}.",
        )
    if status.past_support:
        return _fail(
            name,
            title,
            f"KLAVIYO_REVISION={revision} is {status.age_text}: past Klaviyo's support window "
            "of about two years",
            update,
        )
    if status.should_update:
        # A warning, not a failure: a deploy gate must not start failing because time passed
        # while the revision still works.
        return _warn(
            name,
            title,
            f"KLAVIYO_REVISION={revision} is {status.age_text} and should be updated: Klaviyo "
            f"supports a revision for about {SUPPORT_MONTHS} months, so update it from "
            f"{UPDATE_AFTER_MONTHS} months on",
            update,
        )
    if status.is_beta and not settings.DEBUG:
        return _warn(
            name,
            title,
            f"KLAVIYO_REVISION={revision} is a beta revision ({status.age_text}), which "
            "Klaviyo may change without notice",
            "Use the released revision of that date (drop .pre) in production.",
        )
    return _ok(
        name,
        title,
        f"{revision}, {status.age_text} (update it when it is {UPDATE_AFTER_MONTHS} months old)",
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
            f"no worker has started or finished a task for {_duration(seconds)} (the last "
            f"was {worker}); an idle worker runs the sweep at least every "
            f"{int(window.total_seconds()) - WORKER_SLACK_SECONDS} s",
            START_WORKER,
        )
    return _ok(name, title, f"{worker} worked on a task {_duration(seconds)} ago")


def check_sweep() -> CheckResult:
    name, title = "sweep", "Periodic sweep"
    try:
        planned = (
            DBTaskResult.objects.filter(
                task_path=sweep.module_path,
                status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
            )
            .order_by("run_after")
            .values_list("status", "run_after")
            .first()
        )
    except DatabaseError as error:
        return _database_error(name, title, error)
    if planned is None:
        return _fail(
            name,
            title,
            "no periodic sweep is queued, so stuck or lost signups are never re-enqueued",
            "Run manage.py klaviyo_sync --schedule (once; the sweep then queues itself).",
        )
    status, run_after = planned
    if status == TaskResultStatus.RUNNING:
        return _ok(name, title, "the sweep is running now (it queues its next run when done)")
    return _ok(name, title, f"the next sweep is queued for {run_after:%Y-%m-%d %H:%M:%S %Z}")


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


CHECKS: dict[str, Callable[[], CheckResult]] = {
    "credentials": check_credentials,
    "redirect_uri": check_redirect_uri,
    "scopes": check_scopes,
    "revision": check_revision,
    "database": check_database,
    "encryption": check_encryption_keys,
    "worker": check_worker,
    "sweep": check_sweep,
}


def doctor_run(*, skip: Collection[str] = ()) -> list[CheckResult]:
    """Run every check not in `skip`, in order."""
    return [check() for name, check in CHECKS.items() if name not in skip]
