"""Finding a guest by the first letters of a name or an address, as door staff type them on a
phone: words folded to unaccented lower case ("Zoë" is "zoe"), matched by their start.

Each attendee's words are kept in `Attendee.door_search`, a space before each one, so one
`contains(" " + letters)` finds every word starting with those letters without reading the
names again (the services write it with every name; an erasure blanks it). static/js/door.js
folds and splits words the same way, so the door finds on the phone what the server finds.
"""

from __future__ import annotations

import re
import unicodedata

# Letters Unicode does not take apart into a base letter and an accent (NFKD leaves them).
LETTERS = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",  # noqa: RUF001 (the dotless i of Turkish names)
        "ħ": "h",
    }
)
# A word: letters and digits; anything else (a space, a dot, @, a hyphen) separates words.
WORD = re.compile(r"[^\W_]+")
# What a search looks at: the first few words typed.
MAX_TERMS = 5


def fold(text: str) -> str:
    """Lower case without accents: "Zoë Ørsted" -> "zoe orsted"."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.category(char).startswith("M"))
    return bare.lower().translate(LETTERS)


def words(text: str) -> list[str]:
    return WORD.findall(fold(text))


def search_words(*, first_name: str, last_name: str, email: str) -> str:
    """What `Attendee.door_search` holds: " zoe martin zoe m example com" (each word once)."""
    found = dict.fromkeys(words(f"{first_name} {last_name} {email}"))
    return "".join(f" {word}" for word in found)


def search_terms(query: str) -> list[str]:
    """The words a search must all find the start of ("zoe ma" -> ["zoe", "ma"])."""
    return words(query)[:MAX_TERMS]
