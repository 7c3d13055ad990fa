"""Real processes beside a test (gunicorn, db_worker) sharing the test's databases."""

from __future__ import annotations

import os
import signal
import socket
import subprocess  # the processes under test  # nosec B404
import sys
from collections.abc import Callable
from pathlib import Path

import requests
from django.db import connections

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(alias: str) -> str:
    """The URL another process uses to open this test database."""
    database = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def process_env(**settings: str) -> dict[str, str]:
    """The environment of a process of the product's under test: the test settings, the test's
    databases, the sandbox asked for by name, and `settings` on top."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url("default"),
        "SANDBOX_DATABASE_URL": database_url("sandbox"),
        "KLAVIYO_SANDBOX": "true",
        **settings,
    }


def start_gunicorn(
    app: str, *, port: int, env: dict[str, str], log: Path, probe: str
) -> subprocess.Popen[bytes]:
    """`app` (a WSGI path) under gunicorn with its default limits and two workers, in a process
    group of its own (a signal to the group reaches every worker); returned once `probe` (a
    path) answers anything, or killed and failed with the end of its log."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "30",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        start_new_session=True,
    )

    def answers() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn {app} exited:\n{log.read_text()[-2000:]}")
        try:
            requests.get(f"http://127.0.0.1:{port}{probe}", timeout=1)
        except (requests.ConnectionError, requests.Timeout):  # booting on a busy machine
            return False
        return True

    try:
        wait_until(
            answers,
            seconds=30,
            awaiting=f"gunicorn {app} to answer on port {port}",
            details=lambda: log.read_text()[-2000:],
        )
    except BaseException:
        os.killpg(server.pid, signal.SIGKILL)
        raise
    return server


def start_db_worker(name: str, *, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    """`manage.py db_worker` on every queue, polling every 0.1 s, as the worker `name`; its
    output goes to `logs`/`name`.log (see `worker_log`)."""
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--no-reload",
            "--queue-name",
            "*",
            "--interval",
            "0.1",
            "--no-startup-delay",
            "--worker-id",
            name,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(logs / f"{name}.log").open("w"),
    )


def worker_log(logs: Path, name: str) -> Callable[[], str]:
    """The end of a worker's log, shown beside a wait that failed."""
    return lambda: (logs / f"{name}.log").read_text()[-2000:]


def stop(server: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal the whole process group and wait for it to end."""
    os.killpg(server.pid, sig)
    server.wait(timeout=30)
