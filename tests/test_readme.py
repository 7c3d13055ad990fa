"""The README's module map (the block under "How it works") names every module of the apps,
and nothing that is not there.

The map is a code block, one entry a line: a name column, two or more spaces, then what the
entry does. A name ending in `/` is a folder, whose entries are indented below it; other names
are modules (`settings` for settings.py), and several may share a line (`forms, views, urls`).
A line starting at or past the text column of the entry above continues that text. Top-level
folders that are not Python apps (templates/, tests/) are described, not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
README = BASE_DIR / "README.md"
# The project's Python packages (core/ may be empty or missing while it fills).
APPS = ["accounts", "integrations", "parties", "door", "klaviyo_sandbox", "config", "core", "bench"]

ENTRY = re.compile(r"^(?P<indent> *)(?P<names>[\w./]+(?:, [\w./]+)*)(?: {2,}(?P<text>\S.*))?$")


@dataclass
class ModuleMap:
    modules: set[str] = field(default_factory=set)  # paths such as "accounts/models.py"
    folders: set[str] = field(default_factory=set)  # paths such as "accounts/templatetags"


def map_block(readme: str) -> list[str]:
    section = readme.split("\n## How it works\n", 1)[1]
    block = section.split("```\n", 2)[1]
    return block.splitlines()


def parse_map(lines: list[str]) -> ModuleMap:
    found = ModuleMap()
    folders: list[tuple[int, str]] = []  # (indent, path) of the folders the line is inside
    text_column = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if text_column is not None and indent >= text_column:
            continue  # the text of the entry above, continued
        entry = ENTRY.match(line)
        assert entry, f"module map line {number} is not `name  what it does`: {line!r}"
        text_column = entry.start("text") if entry["text"] else None
        while folders and folders[-1][0] >= indent:
            folders.pop()
        parent = folders[-1][1] if folders else ""
        names = entry["names"].split(", ")
        for name in names:
            if name.endswith("/"):
                path = f"{parent}{name}"
                found.folders.add(path.rstrip("/"))
                if len(names) == 1:
                    folders.append((indent, path))
            else:
                found.modules.add(f"{parent}{name}.py")
    return found


def checked(path: str) -> bool:
    return path.split("/", 1)[0] in APPS


def modules_in_tree() -> set[str]:
    return {
        path.relative_to(BASE_DIR).as_posix()
        for app in APPS
        for path in (BASE_DIR / app).rglob("*.py")
        if path.name != "__init__.py" and "migrations" not in path.relative_to(BASE_DIR).parts
    }


def test_the_module_map_names_every_module_and_only_those():
    module_map = parse_map(map_block(README.read_text()))
    in_map = {path for path in module_map.modules if checked(path)}
    in_tree = modules_in_tree()

    assert not in_tree - in_map, (
        f"modules missing from the README's map: {sorted(in_tree - in_map)}"
    )
    assert not in_map - in_tree, (
        f"the README's map names modules that do not exist: {sorted(in_map - in_tree)}"
    )
    missing_folders = {
        path for path in module_map.folders if checked(path) and not (BASE_DIR / path).is_dir()
    }
    assert not missing_folders, (
        f"the README's map names folders that do not exist: {sorted(missing_folders)}"
    )


def test_the_map_reader_follows_folders_shared_lines_and_continuations():
    lines = [
        "app/          an app",
        "  models      Things, and more",
        "              things continued",
        "  forms, views  pages",
        "  management/commands/",
        "    do_it     a command",
        "  klaviyo/    a package",
        "    client    HTTP",
        "  admin       operator views",
        "templates/    not Python",
    ]

    module_map = parse_map(lines)

    assert module_map.modules == {
        "app/models.py",
        "app/forms.py",
        "app/views.py",
        "app/management/commands/do_it.py",
        "app/klaviyo/client.py",
        "app/admin.py",
    }
    assert module_map.folders == {"app", "app/management/commands", "app/klaviyo", "templates"}
