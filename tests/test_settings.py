"""Misconfiguration stops the process with one line naming the variable, never a traceback;
production values pass `check --deploy`; the sandbox runs outside DEBUG only when asked for."""

import os
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import ConfigurationError, database_config, development_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
# Set by the test settings or the developer's shell; each test here says what it runs with.
UNSET = {
    "SECRET_KEY",
    "SALT_KEY",
    "DEBUG",
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "KLAVIYO_SANDBOX",
    "KLAVIYO_CLIENT_ID",
    "KLAVIYO_CLIENT_SECRET",
    "KLAVIYO_REDIRECT_URI",
}


def production_env(tmp_path: Path) -> dict[str, str]:
    """What a deployment behind a TLS-terminating proxy sets (README, "Running on PostgreSQL")."""
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SALT_KEY": secrets.token_urlsafe(16),
        "ALLOWED_HOSTS": "partyline.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "KLAVIYO_CLIENT_ID": "real-client-id",
        "KLAVIYO_CLIENT_SECRET": secrets.token_urlsafe(24),
        "KLAVIYO_REDIRECT_URI": "https://partyline.example.com/integrations/klaviyo/callback/",
        "SECURE_PROXY_SSL": "true",
    }


def run_check(*args: str, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    return run_manage("check", *args, **env_overrides)


def run_manage(*args: str, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
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


def read_setting(name: str, **env: str) -> str:
    script = f"from django.conf import settings; print(settings.{name})"
    result = run_manage("shell", "--no-imports", "-c", script, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_debug_runs_against_the_sandbox_by_default(tmp_path):
    value = read_setting(
        "KLAVIYO_SANDBOX",
        DEBUG="true",
        SECRET_KEY="dev",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )

    assert value == "True"


def test_without_klaviyo_credentials_outside_debug_the_process_refuses_to_start():
    result = run_check(SECRET_KEY="secret", SALT_KEY="salt")

    assert_one_line_error(result, "KLAVIYO_CLIENT_ID")
    assert "KLAVIYO_SANDBOX=true" in result.stderr


def test_sandbox_mode_asked_for_by_name_starts_and_a_system_check_says_so(tmp_path):
    result = run_check(
        SECRET_KEY="secret",
        SALT_KEY="salt",
        KLAVIYO_SANDBOX="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )

    assert result.returncode == 0, result.stderr
    assert "klaviyo_sandbox.W001" in result.stderr
    assert "nothing reaches Klaviyo" in result.stderr


def test_sandbox_mode_beside_real_credentials_is_a_one_line_error():
    result = run_check(
        SECRET_KEY="secret",
        SALT_KEY="salt",
        KLAVIYO_SANDBOX="true",
        KLAVIYO_CLIENT_ID="real-id",
        KLAVIYO_CLIENT_SECRET="real-secret",
    )

    assert_one_line_error(result, "KLAVIYO_SANDBOX")


def test_a_relative_redirect_uri_is_reported_by_the_doctor_as_a_bad_redirect_uri(tmp_path):
    env = {**production_env(tmp_path), "KLAVIYO_REDIRECT_URI": "relative/callback"}

    # The live checks need a migrated database: only the configuration is asked about here.
    live = ["database", "encryption", "worker", "sweep", "privacy", "door"]
    result = run_manage("klaviyo_doctor", *(f"--skip={name}" for name in live), **env)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1, result.stdout
    assert "Redirect URI" in failed[0]
    assert "KLAVIYO_REDIRECT_URI=relative/callback is not an absolute URL" in failed[0]
    assert "SITE_URL has" not in result.stdout + result.stderr


def test_a_relative_redirect_uri_stops_manage_py_check_naming_it(tmp_path):
    env = {**production_env(tmp_path), "KLAVIYO_REDIRECT_URI": "relative/callback"}

    result = run_check(**env)

    assert result.returncode == 1
    assert "(integrations.E002) KLAVIYO_REDIRECT_URI=relative/callback" in result.stderr
    assert "SITE_URL has" not in result.stderr


def test_a_malformed_site_url_is_a_one_line_error_naming_it(tmp_path):
    result = run_check(**{**production_env(tmp_path), "SITE_URL": "partyline.example.com"})

    assert_one_line_error(result, "SITE_URL has 'partyline.example.com'")


def test_check_deploy_is_clean_with_production_values(tmp_path):
    result = run_check("--deploy", "--fail-level", "WARNING", **production_env(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("SECURE_SSL_REDIRECT", "True"),
        ("SECURE_REDIRECT_EXEMPT", "['^healthz$']"),
        ("SECURE_HSTS_SECONDS", "31536000"),
        ("SECURE_HSTS_INCLUDE_SUBDOMAINS", "True"),
        ("SECURE_HSTS_PRELOAD", "False"),
        ("SESSION_COOKIE_SECURE", "True"),
        ("CSRF_COOKIE_SECURE", "True"),
        ("KLAVIYO_SANDBOX", "False"),
    ],
)
def test_production_defaults(tmp_path, setting, expected):
    assert read_setting(setting, **production_env(tmp_path)) == expected


def test_hsts_lifetime_is_configurable(tmp_path):
    env = {**production_env(tmp_path), "SECURE_HSTS_SECONDS": "600"}

    assert read_setting("SECURE_HSTS_SECONDS", **env) == "600"


def test_development_secret_key_is_made_once_and_readable_only_by_its_owner(tmp_path):
    path = tmp_path / ".dev-secret-key"

    key = development_secret_key(path)

    assert len(key) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert development_secret_key(path) == key


@pytest.mark.skipif(
    shutil.which("git") is None or not (BASE_DIR / ".git").exists(), reason="needs the git clone"
)
def test_the_development_secret_key_is_ignored_by_git_and_not_committed():
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=BASE_DIR, capture_output=True, text=True, timeout=30, check=False
        )

    assert git("check-ignore", "--no-index", "--quiet", ".dev-secret-key").returncode == 0
    assert git("ls-files", "--", ".dev-secret-key").stdout == ""


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
    assert config["DISABLE_SERVER_SIDE_CURSORS"] is False


def test_behind_a_transaction_pooler_server_side_cursors_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("DISABLE_SERVER_SIDE_CURSORS", "true")
    config = database_config(
        "UNSET_VARIABLE", default="postgres://u:p@pgbouncer:6432/partyline", base_dir=tmp_path
    )

    assert config["DISABLE_SERVER_SIDE_CURSORS"] is True


def test_database_config_raises_configuration_error_for_unknown_engines(tmp_path):
    with pytest.raises(ConfigurationError, match="UNSET_VARIABLE"):
        database_config("UNSET_VARIABLE", default="redis://localhost/0", base_dir=tmp_path)
