"""Rate-limit counters need one cache for all web processes: several processes with a
per-process cache refuse to start, with one line saying what to set; and the abuse-limit
settings are checked at startup."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.redis_server import redis_answers

BASE_DIR = Path(__file__).resolve().parent.parent.parent
REDIS_URL = "redis://127.0.0.1:6379/7"
# Variables of the developer's or CI's environment that would change what is checked here.
OWN_VARIABLES = {
    "SECRET_KEY",
    "SALT_KEY",
    "DEBUG",
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "CACHE_URL",
    "WEB_CONCURRENCY",
    "TRUSTED_PROXIES",
}


def run(args: list[str], tmp_path: Path, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in OWN_VARIABLES}
    env.update(
        SECRET_KEY="secret",
        SALT_KEY="salt",
        DEBUG="false",
        KLAVIYO_SANDBOX="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SANDBOX_DATABASE_URL=f"sqlite:///{tmp_path / 'sandbox.sqlite3'}",
    )
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def check(tmp_path: Path, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    return run(["manage.py", "check"], tmp_path, **env_overrides)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_several_processes_with_a_per_process_cache_refuse_to_start(tmp_path):
    result = check(tmp_path, WEB_CONCURRENCY="4")

    assert_one_line_error(result, "CACHE_URL", "WEB_CONCURRENCY=4", "redis://")


def test_several_processes_start_with_a_shared_cache(tmp_path):
    result = check(tmp_path, WEB_CONCURRENCY="4", CACHE_URL=REDIS_URL)

    assert result.returncode == 0, result.stderr


def test_one_process_starts_with_the_per_process_cache(tmp_path):
    result = check(tmp_path, WEB_CONCURRENCY="1")

    assert result.returncode == 0, result.stderr
    assert "django_ratelimit.E003" not in result.stderr


def test_in_debug_several_processes_hear_the_rate_limit_librarys_own_check(tmp_path):
    """Not silenced where it applies: the library's error stops the development server too."""
    result = check(tmp_path, WEB_CONCURRENCY="3", DEBUG="true")

    assert result.returncode == 1
    assert "django_ratelimit.E003" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"),
        ("TRUSTED_PROXIES", "10.0.0.300"),
        ("LOGIN_RATE_PER_IP", "lots"),
        ("API_RATE_PER_TOKEN", "10/0m"),
        ("LOGIN_FAILURE_LIMIT", "0"),
        ("WEB_CONCURRENCY", "0"),
    ],
)
def test_malformed_abuse_limit_settings_are_a_one_line_error(tmp_path, variable, value):
    assert_one_line_error(check(tmp_path, **{variable: value}), variable)


@pytest.mark.skipif(not redis_answers(), reason="no Redis on 127.0.0.1:6379")
def test_processes_sharing_redis_share_one_count(tmp_path):
    """Four separate processes post to the same limit of 3: the fourth is over it."""
    group = f"test-{uuid.uuid4().hex}"
    script = (
        "import django; django.setup()\n"
        "from django.test import RequestFactory\n"
        "from core.limits import count\n"
        "request = RequestFactory().post('/')\n"
        f"print(count(request, group={group!r}, rate='3/h', key='203.0.113.7'))\n"
    )
    waits = [
        int(
            run(
                ["-c", script],
                tmp_path,
                DJANGO_SETTINGS_MODULE="config.settings",
                CACHE_URL=REDIS_URL,
                WEB_CONCURRENCY="4",
            ).stdout.strip()
        )
        for _ in range(4)
    ]

    assert waits[:3] == [0, 0, 0]
    assert waits[3] > 0
