"""What `make run` prints is what a person acts on: the address, the demo login, errors and
Klaviyo failures. Routine lines stay out: a static file served, a visitor's form answered
with its errors (400), a task run, a sweep that found nothing."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.core.management import call_command

from config.log_config import RoutineRequests, logging_config
from core.management.commands.db_worker import Command as WorkerCommand


def record(name: str, message: str, *args: object, status: int | None = None) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)
    if status is not None:
        made.status_code = status
    return made


@pytest.mark.parametrize(
    ("line", "status", "shown"),
    [
        ("GET /static/css/partyline.css HTTP/1.1", 200, False),
        ("GET /static/css/partyline.css HTTP/1.1", 304, False),
        ("GET /favicon.ico HTTP/1.1", 200, False),
        ("GET /static/missing.css HTTP/1.1", 404, True),  # a broken page: worth a line
        ("GET /accounts/login/ HTTP/1.1", 200, True),
        ("POST /p/abc/ HTTP/1.1", 303, True),
    ],
)
def test_runserver_lines_for_served_static_files_are_left_out(line, status, shown):
    server_line = record("django.server", '"%s" %s %s', line, str(status), "12", status=status)
    assert RoutineRequests().filter(server_line) is shown


@pytest.mark.parametrize(("status", "shown"), [(400, False), (403, True), (404, True), (500, True)])
def test_only_a_bad_request_s_warning_is_left_out(status, shown):
    warning = record("django.request", "Bad Request: %s", "/p/abc/", status=status)
    assert RoutineRequests().filter(warning) is shown


def test_task_runs_are_routine_unless_debugging_and_the_filters_are_attached():
    config = logging_config(level="INFO")
    assert config["loggers"]["django_tasks"]["level"] == "WARNING"
    assert config["loggers"]["django.utils.autoreload"]["level"] == "WARNING"
    assert config["loggers"]["axes.handlers"]["level"] == "WARNING"  # a login's four lines
    assert "routine_requests" in config["loggers"]["django.server"]["filters"]
    assert "routine_requests" in config["loggers"]["django.request"]["filters"]
    assert logging_config(level="DEBUG")["loggers"]["django_tasks"]["level"] == "DEBUG"


def test_the_worker_leaves_the_configured_levels_alone_at_the_default_verbosity():
    tasks_logger = logging.getLogger("django_tasks")
    before = tasks_logger.level
    tasks_logger.setLevel(logging.WARNING)
    try:
        WorkerCommand().configure_logging(1)
        # The library's own would set INFO (a line per task run) here, and CRITICAL at 0
        # (not even a failure).
        assert tasks_logger.level == logging.WARNING
        WorkerCommand().configure_logging(0)
        assert tasks_logger.level == logging.WARNING
    finally:
        tasks_logger.setLevel(before)


@pytest.mark.django_db
def test_a_sweep_that_found_nothing_says_nothing_at_verbosity_0():
    quiet, told = StringIO(), StringIO()
    call_command("klaviyo_sync", "--schedule", verbosity=0, stdout=quiet)
    call_command("klaviyo_sync", stdout=told)
    assert quiet.getvalue() == ""
    assert "Put back 0 stuck attendees" in told.getvalue()


def test_make_run_asks_for_the_quiet_sweep():
    from pathlib import Path

    script = (Path(__file__).resolve().parent.parent / "scripts" / "run").read_text()
    assert "klaviyo_sync --schedule --verbosity 0" in script
    assert "kill 0" not in script  # never the process group make belongs to
