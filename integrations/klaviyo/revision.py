"""The lifecycle of the Klaviyo API `revision` we send (KLAVIYO_REVISION).

Klaviyo names revisions by their release date (`2026-07-15`; a beta is `2026-07-15.pre`)
and supports each for about two years. We ask for an update once a revision is 18 months
old, leaving about six months to test and move to a newer one before it is retired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# Klaviyo's support window for a revision (a third-party note; "about two years").
SUPPORT_MONTHS = 24
# From this age on (in whole months), the revision should be updated.
UPDATE_AFTER_MONTHS = 18

REVISION_PATTERN = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(\.pre)?$")


@dataclass(frozen=True)
class RevisionStatus:
    """What can be said about a revision string on a given day."""

    revision: str
    released_on: date | None
    is_beta: bool
    # Whole months since its release; None when it is not a valid revision date.
    age_months: int | None
    is_future: bool = False

    @property
    def is_valid(self) -> bool:
        return self.released_on is not None

    @property
    def should_update(self) -> bool:
        return self.age_months is not None and self.age_months >= UPDATE_AFTER_MONTHS

    @property
    def past_support(self) -> bool:
        return self.age_months is not None and self.age_months >= SUPPORT_MONTHS

    @property
    def age_text(self) -> str:
        """'4 months old', 'released this month', ..., for people."""
        if self.age_months is None:
            return "not a revision date"
        if self.is_future:
            return "dated in the future"
        if self.age_months == 0:
            return "less than a month old"
        return f"{self.age_months} month{'' if self.age_months == 1 else 's'} old"


def months_between(earlier: date, later: date) -> int:
    """Whole months from `earlier` to `later` (0 when `later` is not after `earlier`)."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    if later.day < earlier.day:
        months -= 1
    return max(months, 0)


def revision_status(revision: str, *, today: date) -> RevisionStatus:
    """Parse `revision` (YYYY-MM-DD or YYYY-MM-DD.pre) and say how old it is on `today`."""
    match = REVISION_PATTERN.match(revision)
    released_on = None
    if match:
        try:
            released_on = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            released_on = None
    return RevisionStatus(
        revision=revision,
        released_on=released_on,
        is_beta=bool(match and match[4]),
        age_months=months_between(released_on, today) if released_on else None,
        is_future=bool(released_on and released_on > today),
    )
