"""`make audit`: bandit on the code, pip-audit on the pinned dependencies.

Fails (exit 1) on any bandit finding and on any known vulnerability in a pinned dependency.
pip-audit asks PyPI's vulnerability data for each dependency; when it cannot reach it, the
dependencies are NOT audited, and this says so loudly instead of passing in silence (exit 0,
so a machine without that access can still run CI; AUDIT_REQUIRE_DATABASE=1 makes it fail).
Vulnerabilities that do not apply are listed in IGNORED_VULNERABILITIES with the reason.
"""

from __future__ import annotations

import json
import os

# Runs this virtualenv's own tools with fixed arguments: no untrusted input reaches them.
import subprocess  # nosec B404
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Vulnerabilities that do not apply to Partyline, each with the reason (reviewed when the
# dependency is upgraded). Passed to pip-audit as --ignore-vuln.
IGNORED_VULNERABILITIES: dict[str, str] = {}


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def bandit() -> bool:
    say("==> bandit: static security analysis of the code ([tool.bandit] in pyproject.toml)")
    result = subprocess.run(  # noqa: S603  # nosec B603
        [str(BIN / "bandit"), "-q", "-c", "pyproject.toml", "-r", "."], cwd=ROOT, check=False
    )
    if result.returncode == 0:
        say("bandit: no findings.")
    return result.returncode == 0


def pip_audit() -> bool:
    say("==> pip-audit: known vulnerabilities in the pinned dependencies (requirements*.txt)")
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(scratch) / "pip-audit.json"
        command = [
            str(BIN / "pip-audit"),
            "--requirement",
            "requirements-dev.txt",  # which includes requirements.txt
            "--format",
            "json",
            "--output",
            str(report_path),
            "--progress-spinner",
            "off",
        ]
        for vulnerability in IGNORED_VULNERABILITIES:
            command += ["--ignore-vuln", vulnerability]
        # Its own summary ("No known vulnerabilities found") would be misleading when nothing
        # could be checked: the report below says what was and was not audited.
        result = subprocess.run(  # noqa: S603  # nosec B603
            command, cwd=ROOT, check=False, capture_output=True, text=True
        )
        try:
            report = json.loads(report_path.read_text())
        except (OSError, ValueError):
            say(result.stdout + result.stderr)
            say(f"pip-audit FAILED to run (exit {result.returncode}): see its output above.")
            return False

    ok, lines = judge(report, require_database=os.environ.get("AUDIT_REQUIRE_DATABASE") == "1")
    for line in lines:
        say(line)
    return ok


def judge(report: dict, *, require_database: bool = False) -> tuple[bool, list[str]]:
    """Whether pip-audit's JSON report passes, and what to print about it."""
    dependencies = report.get("dependencies", [])
    vulnerable = [dep for dep in dependencies if dep.get("vulns")]
    skipped = [dep for dep in dependencies if dep.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    lines = [f"ignored {vuln}: {reason}" for vuln, reason in IGNORED_VULNERABILITIES.items()]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            lines.append(
                f"VULNERABLE: {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})"
            )
    if vulnerable:
        lines.append(
            f"pip-audit: {len(vulnerable)} pinned dependencies have known vulnerabilities."
        )
        return False, lines
    if audited == 0:
        reason = skipped[0]["skip_reason"] if skipped else "pip-audit listed no dependency"
        lines += [
            "",
            "!" * 78,
            "WARNING: pip-audit could NOT audit any dependency: its vulnerability database",
            "(PyPI's per-release JSON API, https://pypi.org/pypi/<name>/<version>/json) did not",
            "answer from this machine, so NOTHING WAS CHECKED for known vulnerabilities.",
            f"First reason given: {reason}",
            "Run `make audit` where pypi.org is fully reachable to audit the dependencies.",
            "!" * 78,
            "",
        ]
        return not require_database, lines
    lines += [
        f"not audited: {dep['name']} {dep['version']}: {dep['skip_reason']}" for dep in skipped
    ]
    lines.append(f"pip-audit: {audited} dependencies audited, no known vulnerabilities.")
    return True, lines


def main() -> int:
    bandit_ok = bandit()
    audit_ok = pip_audit()
    return 0 if bandit_ok and audit_ok else 1


if __name__ == "__main__":
    sys.exit(main())
