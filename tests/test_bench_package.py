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
