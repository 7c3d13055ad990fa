"""Who came to a party, for the pages, the CSV and `Party Ended`.

Check-ins are the door's (`door`, an app above parties, which parties never imports): the door
registers how its check-ins read when its app is ready, as the apps above accounts register
what an organization's deletion takes (`accounts.deletion`). Without it nobody came: the
pages show no attendance and `attended` is false.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import BooleanField, DateTimeField, QuerySet, Value
from django.db.models.expressions import BaseExpression

from parties.models import Attendee, Party


@dataclass(frozen=True)
class AttendanceCounts:
    """A party's check-ins counted: those standing (not undone), the walk-ins among them, and
    those of people registered now (a no-show is registered without one); `recorded` counts
    undone ones too, and `last_change` moves with every check-in and undo."""

    checked_in: int = 0
    walk_ins: int = 0
    registered_checked_in: int = 0
    recorded: int = 0
    last_change: datetime | None = None


@dataclass(frozen=True)
class AttendanceSource:
    """How the door's check-ins read, over attendees (`OuterRef("pk")` is the attendee):
    the time of their standing check-in (NULL when none), and whether it was a walk-in; and
    a party's counts."""

    checked_in_at: Callable[[], BaseExpression]
    walk_in: Callable[[], BaseExpression]
    counts: Callable[[Party], AttendanceCounts]


_source: AttendanceSource | None = None


def attendance_register(source: AttendanceSource) -> None:
    """Called from the door's `ready()`; registering again replaces it."""
    global _source
    _source = source


def with_attendance(attendees: QuerySet[Attendee]) -> QuerySet[Attendee]:
    """Attendees with `checked_in_at` (None: not checked in) and `walk_in`, in the same
    query."""
    if _source is None:
        return attendees.annotate(
            checked_in_at=Value(None, output_field=DateTimeField()),
            walk_in=Value(False, output_field=BooleanField()),
        )
    return attendees.annotate(checked_in_at=_source.checked_in_at(), walk_in=_source.walk_in())


def attendance_counts(party: Party) -> AttendanceCounts:
    return _source.counts(party) if _source is not None else AttendanceCounts()
