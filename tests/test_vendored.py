"""Third-party code shipped in static/js/vendor/: each folder's README names the version, the
npm tarball's integrity and each file's sha256, and the files are exactly those (an edit, a
stray file or an update without its note fails here), with their licence beside them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

VENDOR = Path(__file__).resolve().parent.parent / "static" / "js" / "vendor"
CHECKSUM = re.compile(r"^\s+sha256 (?P<digest>[0-9a-f]{64})  (?P<name>\S+)$", re.MULTILINE)
INTEGRITY = re.compile(r"^\s+sha512-[A-Za-z0-9+/]{86}==$", re.MULTILINE)

PACKAGES = {"jsqr": {"version": "1.4.0", "licence": "Apache License\n"}}


def checksums(folder: Path) -> dict[str, str]:
    readme = (folder / "README.md").read_text()
    return {match["name"]: match["digest"] for match in CHECKSUM.finditer(readme)}


def test_every_vendored_folder_is_known():
    assert {path.name for path in VENDOR.iterdir() if path.is_dir()} == set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_the_files_are_the_ones_the_readme_names_unchanged(package):
    folder = VENDOR / package
    named = checksums(folder)

    shipped = {path.name for path in folder.iterdir()} - {"README.md"}
    assert shipped == set(named), "every vendored file, and only those, has its sha256 noted"
    for name, digest in named.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("package", PACKAGES)
def test_the_readme_names_the_version_and_the_tarballs_integrity(package):
    readme = (VENDOR / package / "README.md").read_text()

    assert f"| {PACKAGES[package]['version']} |" in readme
    assert f"{package}-{PACKAGES[package]['version']}.tgz" in readme
    assert INTEGRITY.search(readme)


@pytest.mark.parametrize("package", PACKAGES)
def test_the_licence_is_shipped_beside_the_code(package):
    assert PACKAGES[package]["licence"] in (VENDOR / package / "LICENSE").read_text()


def test_the_decoder_needs_no_eval_which_the_content_security_policy_forbids():
    source = (VENDOR / "jsqr" / "jsQR.js").read_text()

    assert not re.search(r"\beval\(|new Function\(", source)
