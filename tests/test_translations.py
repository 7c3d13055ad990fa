"""The translations (locale/, `make messages`): every message translated and none fuzzy, the
placeholders of each translation those of its English, and the compiled catalog (.mo, which
CI cannot compile: it has no gettext tools) saying exactly what the .po file says."""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

LOCALE = settings.BASE_DIR / "locale"
# Each language the public pages speak besides English.
TRANSLATED = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (".*")$')
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@dataclass(frozen=True)
class Message:
    context: str | None
    msgid: str
    plural: str | None
    # msgstr, or msgstr[0], msgstr[1], ... for a message with plural forms.
    strings: tuple[str, ...]
    flags: frozenset[str]

    @property
    def key(self) -> str:
        """How a compiled catalog names it: its context and msgid joined by EOT."""
        return self.msgid if self.context is None else f"{self.context}\x04{self.msgid}"


def read_po(path: Path) -> list[Message]:
    """The messages of a .po file as makemessages writes them, the header (msgid "") first;
    obsolete ones (`#~`, kept for when their text comes back) are left out."""
    messages = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        lines = block.strip().splitlines()
        if not lines or any(line.startswith("#~ msg") for line in lines):
            continue
        fields: dict[str, str] = {}
        flags: set[str] = set()
        field = None
        for line in lines:
            if line.startswith("#,"):
                flags |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#"):
                continue
            elif match := KEYWORD.match(line):
                field = match[1]
                fields[field] = ast.literal_eval(match[2])
            elif line.startswith('"') and field is not None:
                fields[field] += ast.literal_eval(line)
            else:
                raise ValueError(f"{path}: a line this reader does not know: {line!r}")
        strings = [fields[name] for name in sorted(fields) if name.startswith("msgstr")]
        messages.append(
            Message(
                context=fields.get("msgctxt"),
                msgid=fields["msgid"],
                plural=fields.get("msgid_plural"),
                strings=tuple(strings),
                flags=frozenset(flags),
            )
        )
    return messages


def catalog(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "django.po"


def placeholders(text: str | None) -> set[str]:
    return set(PLACEHOLDER.findall(text or ""))


def test_each_language_but_english_has_its_catalog_and_its_compiled_catalog():
    assert TRANSLATED == ["de"]
    for language in TRANSLATED:
        assert catalog(language).is_file()
        assert catalog(language).with_suffix(".mo").is_file()


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(language):
    header, *messages = read_po(catalog(language))

    assert header.msgid == ""
    # A fuzzy header is ignored by the compiler, plural rules and all.
    assert "fuzzy" not in header.flags
    assert "Plural-Forms: nplurals=2; plural=(n != 1);" in header.strings[0]
    assert len(messages) > 100
    untranslated = [m.msgid for m in messages if not all(m.strings)]
    fuzzy = [m.msgid for m in messages if "fuzzy" in m.flags]
    assert untranslated == []
    assert fuzzy == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_translation_fills_in_what_its_english_does(language):
    """A placeholder the English does not have fails when the page renders (KeyError); one
    left out loses what it said. The compiler checks this, but only where gettext is
    installed."""
    wrong = []
    for message in read_po(catalog(language))[1:]:
        if message.plural is None:
            if placeholders(message.strings[0]) != placeholders(message.msgid):
                wrong.append(message.msgid)
            continue
        # The forms for fewer may leave the count out ("Der einzige Platz ist vergeben.").
        *fewer, most = message.strings
        english = placeholders(message.msgid) | placeholders(message.plural)
        if placeholders(most) != placeholders(message.plural) or any(
            not placeholders(form) <= english for form in fewer
        ):
            wrong.append(message.msgid)

    assert wrong == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_says_exactly_what_the_po_file_says(language):
    """django.mo is compiled by `make messages` and committed: after a change to the .po
    file, this fails until it is compiled again."""
    expected: dict[str | tuple[str, int], str] = {}
    for message in read_po(catalog(language)):
        if message.msgid == "":
            # The header, less the date of the template it came from (not compiled).
            lines = message.strings[0].splitlines(keepends=True)
            expected[""] = "".join(x for x in lines if not x.startswith("POT-Creation-Date:"))
        elif message.plural is None:
            expected[message.key] = message.strings[0]
        else:
            for index, translation in enumerate(message.strings):
                expected[(message.key, index)] = translation

    with catalog(language).with_suffix(".mo").open("rb") as compiled:
        translations = gettext.GNUTranslations(compiled)

    assert translations._catalog == expected  # type: ignore[attr-defined]
