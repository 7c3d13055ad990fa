"""Where the sandbox lives: its own database, mounted only without real credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.test import override_settings

from klaviyo_sandbox.checks import sandbox_only_without_real_credentials, sandbox_outside_debug
from klaviyo_sandbox.models import Account, Token
from klaviyo_sandbox.routers import SandboxRouter
from klaviyo_sandbox.seed import sandbox_seed

BASE_DIR = Path(__file__).resolve().parents[2]


def test_sandbox_mode_points_the_product_at_the_sandbox():
    assert settings.KLAVIYO_SANDBOX is True
    assert settings.KLAVIYO_CLIENT_ID == settings.SANDBOX_CLIENT_ID
    assert f"{settings.SANDBOX_URL}/oauth/authorize" == settings.KLAVIYO_AUTHORIZE_URL
    assert settings.KLAVIYO_BASE_URL == settings.SANDBOX_URL


def test_the_router_keeps_sandbox_tables_in_the_sandbox_database():
    router = SandboxRouter()

    assert router.db_for_write(Token) == "sandbox"
    assert router.allow_migrate("sandbox", "klaviyo_sandbox") is True
    assert router.allow_migrate("default", "klaviyo_sandbox") is False
    assert router.allow_migrate("sandbox", "accounts") is False
    assert router.allow_migrate("default", "accounts") is None


def test_sandbox_tables_exist_only_in_the_sandbox_database():
    sandbox_tables = connections["sandbox"].introspection.table_names()
    default_tables = connections["default"].introspection.table_names()

    assert "klaviyo_sandbox_token" in sandbox_tables
    assert "klaviyo_sandbox_token" not in default_tables
    assert "accounts_user" not in sandbox_tables


def test_migrating_a_fresh_sandbox_database_seeds_two_accounts(tmp_path):
    database = tmp_path / "fresh-sandbox.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SANDBOX_DATABASE_URL": f"sqlite:///{database}",
    }
    script = (
        "import django; django.setup();"
        "from django.core.management import call_command;"
        "call_command('migrate', database='sandbox', verbosity=0);"
        "call_command('migrate', database='sandbox', verbosity=0);"  # idempotent
        "from klaviyo_sandbox.models import Account;"
        "print(sorted(Account.objects.values_list('organization_name', flat=True)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['Acme Pets', 'Bark & Co']"


def test_seeding_again_is_idempotent():
    Account.objects.using("sandbox").all().delete()

    sandbox_seed()
    sandbox_seed()

    assert Account.objects.using("sandbox").count() == 2


def test_system_check_passes_in_sandbox_mode():
    assert sandbox_only_without_real_credentials() == []


@override_settings(KLAVIYO_SANDBOX=False)
def test_system_check_refuses_the_sandbox_beside_real_credentials():
    errors = sandbox_only_without_real_credentials()

    assert [error.id for error in errors] == ["klaviyo_sandbox.E001"]


@override_settings(DEBUG=False)
def test_system_check_warns_that_the_sandbox_runs_outside_debug():
    warnings = sandbox_outside_debug()

    assert [warning.id for warning in warnings] == ["klaviyo_sandbox.W001"]
    assert "nothing reaches Klaviyo" in warnings[0].msg


@override_settings(DEBUG=True)
def test_system_check_is_quiet_about_the_sandbox_in_debug():
    assert sandbox_outside_debug() == []


def test_with_real_credentials_the_sandbox_is_neither_installed_nor_mounted():
    env = {key: value for key, value in os.environ.items() if key != "KLAVIYO_SANDBOX"}
    env.update(KLAVIYO_CLIENT_ID="real-id", KLAVIYO_CLIENT_SECRET="real-secret")
    script = (
        "import django; django.setup();"
        "from django.apps import apps; from django.conf import settings;"
        "from django.urls import resolve, Resolver404;"
        "print(apps.is_installed('klaviyo_sandbox'), 'sandbox' in settings.DATABASES);"
        "\ntry:\n resolve('/sandbox/klaviyo/oauth/token'); print('mounted')"
        "\nexcept Resolver404:\n print('not mounted')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "not", "mounted"]
