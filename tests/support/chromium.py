"""Which Chromium the browser tests drive, and how it starts: the system's (Debian's
`chromium` package, or CHROMIUM_PATH), never a downloaded one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    if Path(configured_chromium()).is_file():
        return configured_chromium()
    return shutil.which("chromium")


def configured_chromium() -> str:
    return os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
