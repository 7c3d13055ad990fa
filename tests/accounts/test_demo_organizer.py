"""`make run`'s demo organizer: created quietly before the servers start, its login printed
last (`demo_organizer --show`, also `make demo-login`)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.management.commands.demo_organizer import DEMO_EMAIL, DEMO_ORGANIZATION
from accounts.models import Membership, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def dev(settings, tmp_path):
    settings.DEBUG = True
    settings.BASE_DIR = tmp_path  # where .demo-credentials is kept
    settings.SITE_URL = "http://127.0.0.1:8000"
    return tmp_path


def run(*args: str) -> str:
    out = StringIO()
    call_command("demo_organizer", *args, stdout=out)
    return out.getvalue()


def test_quiet_creates_the_organizer_and_prints_nothing(dev):
    assert run("--quiet") == ""

    user = User.objects.get(email=DEMO_EMAIL)
    password = (dev / ".demo-credentials").read_text()
    assert user.check_password(password)
    assert Membership.objects.get(user=user).organization.name == DEMO_ORGANIZATION


def test_show_prints_the_login_and_where_to_use_it(dev):
    run("--quiet")
    password = (dev / ".demo-credentials").read_text()

    output = run("--show")

    assert "Demo organizer login (open http://127.0.0.1:8000/)" in output
    assert f"email:    {DEMO_EMAIL}" in output
    assert f"password: {password}" in output
    assert "make demo-login" in output
    assert User.objects.count() == 1


def test_show_creates_nothing(dev):
    with pytest.raises(CommandError, match="make run"):
        run("--show")

    assert not User.objects.exists()


def test_running_it_again_keeps_the_same_login(dev):
    first = run()
    second = run()

    assert first == second
    assert User.objects.count() == 1


def test_it_refuses_outside_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="development only"):
        run("--show")


def test_make_run_prints_the_login_last_and_migrates_quietly(settings):
    script = (settings.BASE_DIR / "scripts" / "run").read_text()

    assert "demo_organizer --quiet" in script
    assert script.index("runserver") < script.index("demo_organizer --show")
    assert 'migrate --noinput "$@")' in script  # output kept, summarized in one line
    makefile = (settings.BASE_DIR / "Makefile").read_text()
    assert "demo-login:" in makefile


def test_the_login_says_where_the_operators_admin_is_and_how_to_get_in(dev):
    run("--quiet")

    shown = run("--show")

    assert "http://127.0.0.1:8000/admin/" in shown
    assert "manage.py createsuperuser" in shown
