"""`make audit` runs in CI after the checks and the suites, and judges pip-audit's report
strictly: a known vulnerability fails, and an audit that could check nothing says so instead of
passing quietly."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def audit():
    spec = importlib.util.spec_from_file_location("partyline_audit", ROOT / "scripts" / "audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dependency(name: str, *, vulns=(), skip_reason: str | None = None) -> dict:
    """One entry of pip-audit's JSON report."""
    if skip_reason:
        return {"name": name, "version": "1.0", "skip_reason": skip_reason}
    return {"name": name, "version": "1.0", "vulns": list(vulns)}


@pytest.mark.parametrize("tool", ["hypothesis", "bandit", "pip-audit"])
def test_the_security_tools_are_pinned(tool):
    requirements = (ROOT / "requirements-dev.txt").read_text()

    assert re.search(rf"^{re.escape(tool)}==\d", requirements, re.MULTILINE)


def test_ci_runs_the_checks_first_and_the_audit_after_the_suites():
    ci = (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()

    # `make check` (lint included) fails fast, before either suite runs.
    assert ci.index("\nmake check\n") < ci.index("\nmake test\n") < ci.index("\nmake audit\n")
    assert re.search(r"^check: lint$", makefile, re.MULTILINE)
    assert re.search(r"^audit: .*\n\t\$\(PY\) scripts/audit.py$", makefile, re.MULTILINE)


def test_a_known_vulnerability_fails_the_audit(audit):
    report = {
        "dependencies": [
            dependency("django", vulns=[{"id": "PYSEC-0000-1", "fix_versions": ["1.1"]}]),
            dependency("requests"),
        ]
    }

    ok, lines = audit.judge(report)

    assert not ok
    assert "VULNERABLE: django 1.0: PYSEC-0000-1 (fixed in 1.1)" in lines


def test_an_unreachable_vulnerability_database_is_said_loudly(audit):
    unreachable = "Dependency not found on PyPI and could not be audited: django (1.0)"
    report = {"dependencies": [dependency("django", skip_reason=unreachable)]}

    ok, lines = audit.judge(report)
    strict_ok, _lines = audit.judge(report, require_database=True)

    assert ok  # CI can still run where the database is out of reach...
    assert any("NOTHING WAS CHECKED" in line for line in lines)  # ...but it says so
    assert not any("no known vulnerabilities" in line for line in lines)
    assert not strict_ok


def test_a_clean_audit_passes_and_names_what_it_could_not_check(audit):
    report = {
        "dependencies": [
            dependency("django"),
            dependency("local-thing", skip_reason="not on PyPI"),
        ]
    }

    ok, lines = audit.judge(report)

    assert ok
    assert "not audited: local-thing 1.0: not on PyPI" in lines
    assert lines[-1] == "pip-audit: 1 dependencies audited, no known vulnerabilities."
