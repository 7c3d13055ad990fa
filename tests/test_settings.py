"""Misconfiguration stops the process with one line naming the variable, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import ConfigurationError, database_config

BASE_DIR = Path(__file__).resolve().parent.parent


def run_check(**env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "SALT_KEY", "DEBUG", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_secret_key_without_debug_is_a_one_line_error():
    assert_one_line_error(run_check(SALT_KEY="salt"), "SECRET_KEY")


def test_missing_salt_key_without_debug_is_a_one_line_error():
    assert_one_line_error(run_check(SECRET_KEY="secret"), "SALT_KEY")


@pytest.mark.parametrize(
    "url", ["mysqlx://nowhere/db", "postgres://user@host:notaport/db", "not a url", "postgres://"]
)
def test_malformed_database_url_is_a_one_line_error(url):
    result = run_check(SECRET_KEY="secret", SALT_KEY="salt", DATABASE_URL=url)

    assert_one_line_error(result, "DATABASE_URL")


def test_debug_runs_without_secrets(tmp_path):
    result = run_check(DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")

    assert result.returncode == 0, result.stderr


def test_sqlite_is_tuned_for_a_web_process_and_a_worker_writing_together(tmp_path):
    config = database_config("UNSET_VARIABLE", default="sqlite:///x.sqlite3", base_dir=tmp_path)

    assert config["NAME"] == str(tmp_path / "x.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert config["OPTIONS"]["timeout"] >= 5
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_postgres_keeps_healthy_persistent_connections(tmp_path):
    config = database_config(
        "UNSET_VARIABLE", default="postgres://u:p@db.internal:5432/partyline", base_dir=tmp_path
    )

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["CONN_MAX_AGE"] > 0
    assert config["CONN_HEALTH_CHECKS"] is True


def test_database_config_raises_configuration_error_for_unknown_engines(tmp_path):
    with pytest.raises(ConfigurationError, match="UNSET_VARIABLE"):
        database_config("UNSET_VARIABLE", default="redis://localhost/0", base_dir=tmp_path)
