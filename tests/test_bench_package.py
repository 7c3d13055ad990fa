"""The benchmarks are one package run from the project's root: what `make bench` and
`make bench-quick` run starts, and every import in bench/, a function's own included,
resolves without a directory added to sys.path."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("target", "program"), [("bench", "python -m bench"), ("bench-quick", "python -m bench.quick")]
)
def test_the_make_target_runs_a_module_of_the_bench_package(target, program):
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(rf"^{re.escape(target)}: .*\n\t(.+)$", makefile, re.MULTILINE)
    command = recipe.group(1).replace("$(PY)", sys.executable).replace("$(BENCH_ARGS)", "--help")

    done = subprocess.run(
        shlex.split(command), cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {program} ")


def test_every_import_in_the_bench_resolves_from_the_project_root():
    unresolved = []
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module]
            else:
                continue
            unresolved += [f"{path.name}: {name}" for name in names if not find_spec(name)]

    assert unresolved == []


def test_scripts_holds_no_python_program_but_the_audit():
    assert [path.name for path in (ROOT / "scripts").glob("*.py")] == ["audit.py"]


@pytest.mark.django_db
def test_the_signup_without_events_writes_none_and_plans_no_run(make_party):
    """The bench's "without events" leaves out exactly the signup's event steps: each still
    exists where it patches it (a renamed one would silently measure nothing), and a signup
    under it is saved with no event and no event run planned."""
    from bench.views import EVENT_STEPS, without_registered_event
    from parties.models import Attendee, EventSender, PartyEvent
    from tests.support.signups import signup

    for step in EVENT_STEPS:
        module, _, name = step.rpartition(".")
        assert hasattr(sys.modules.get(module) or __import__(module, fromlist=[name]), name), step
    party = make_party()
    with without_registered_event():
        signup(party, email="quiet@example.com")
    assert Attendee.objects.filter(email="quiet@example.com").exists()
    assert not PartyEvent.objects.exists()
    assert EventSender.objects.get(connection=party.connection).next_run_at is None
