"""No template carries inline script or inline style: the Content-Security-Policy would block
it (script-src and style-src are 'self' only), so it belongs in static/js or static/css."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

# Inside a tag: a style attribute, an event handler attribute (onclick=...), or a javascript: URL.
FORBIDDEN = {
    "inline style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE),
    "<style> element": re.compile(r"<style\b", re.IGNORECASE),
    "inline event handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
    # A <script> without src runs inline code (a JSON data block would not, but we have none).
    "inline <script>": re.compile(r"<script\b(?![^>]*\ssrc\s*=)[^>]*>", re.IGNORECASE),
}


def project_templates() -> list[Path]:
    directories = [Path(directory) for directory in settings.TEMPLATES[0]["DIRS"]]
    directories += [
        path
        for path in settings.BASE_DIR.glob("*/templates")
        if not path.is_relative_to(settings.BASE_DIR / ".venv")
    ]
    return sorted({path for directory in directories for path in directory.rglob("*.html")})


TEMPLATES = project_templates()


def test_the_scan_sees_the_templates():
    names = {path.relative_to(settings.BASE_DIR).as_posix() for path in TEMPLATES}

    assert {"templates/base.html", "templates/klaviyo_sandbox/base.html"} <= names


@pytest.mark.parametrize("problem", FORBIDDEN)
def test_no_template_has_inline_script_or_style(problem):
    pattern = FORBIDDEN[problem]
    found = [
        f"{path.relative_to(settings.BASE_DIR)}:{text.count(chr(10), 0, match.start()) + 1}"
        for path in TEMPLATES
        for text in [path.read_text()]
        for match in pattern.finditer(text)
    ]

    assert found == [], f"{problem} in {found}"


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        ('<p style="color: red">', "inline style attribute"),
        ("<style>p {}</style>", "<style> element"),
        ('<input onfocus="this.select()">', "inline event handler"),
        ('<a href="javascript:void(0)">', "javascript: URL"),
        ("<script>alert(1)</script>", "inline <script>"),
    ],
)
def test_the_scan_recognises_each_problem(snippet, problem):
    assert FORBIDDEN[problem].search(snippet)


def test_the_scan_lets_static_scripts_and_hidden_attributes_through():
    text = '<script src="/static/js/copy.js" defer></script><button data-copy="x" hidden>'

    assert not any(pattern.search(text) for pattern in FORBIDDEN.values())
