"""A party's signups over time: signups, waitlist joins and cancellations counted per hour,
day, week or month in the current time zone (the organization's, during a request), and the
bars that draw them.

The counts come from the database, grouped by period (two queries whatever the number of
attendees); erased attendees count, as their rows stay for that. Every period from the first
to the last one with something in it is a bucket, zeros included, so gaps read as gaps. The
geometry is worked out here, in the SVG's own units, so the template only prints numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from django.db.models import Count, DateTimeField, Max, Min, QuerySet, Value
from django.db.models.functions import Trunc
from django.utils import timezone
from django.utils.dateformat import format as date_format

from parties.models import Attendee, Party


class Unit(StrEnum):
    """How long one bar is (the names are Trunc's kinds)."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


# The most bars of each unit before the next, longer one is used. By the hour up to two
# days: a launch's rush and the evenings after it show by the hour, and past that hour bars
# get too thin to read on a phone (about 4 px at 375 px wide) while the day is what matters.
# Then days and weeks up to 60 bars, then months whatever the span: 60 months of signups for
# one party is not a real case, and more bars would only be thinner.
UNIT_LIMITS = ((Unit.HOUR, 48), (Unit.DAY, 60), (Unit.WEEK, 60))
LONGEST_UNIT = Unit.MONTH
# The units of a fixed length (a month's varies).
UNIT_LENGTHS = {
    Unit.HOUR: timedelta(hours=1),
    Unit.DAY: timedelta(days=1),
    Unit.WEEK: timedelta(weeks=1),
}

# A period as its label says it (in the current time zone).
LABEL_FORMATS = {
    Unit.HOUR: "j M Y, H:i",
    Unit.DAY: "D j M Y",
    Unit.WEEK: r"\w\e\e\k \o\f j M Y",
    Unit.MONTH: "F Y",
}


@dataclass(frozen=True)
class Series:
    """One thing the chart counts: the attendee time that says when it happened."""

    key: str
    label: str
    field: str


SERIES = (
    Series("signups", "Signups", "created_at"),
    Series("waitlisted", "Waitlist joins", "waitlisted_at"),
    Series("cancelled", "Cancellations", "cancelled_at"),
)

# The SVG's units: each bar has a slot this wide (the bar and a gap), each row is this tall.
# The SVG stretches to the page's width, so only the proportions matter.
SLOT_WIDTH = 10
BAR_WIDTH = 8
ROW_HEIGHT = 100
# A period with something in it never looks empty, however tall the tallest bar: a bar is at
# least this tall (about 2 px as drawn).
MIN_BAR_HEIGHT = 3


@dataclass(frozen=True)
class Period:
    """One bucket: when it starts (wall-clock time in the zone) and its count of each series,
    in SERIES order."""

    start: datetime
    label: str
    counts: tuple[int, ...]

    @property
    def cells(self) -> list[tuple[str, int]]:
        """(series label, count) in SERIES order: a row of the table."""
        return [(series.label, count) for series, count in zip(SERIES, self.counts, strict=True)]


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    value: int
    label: str


@dataclass(frozen=True)
class ChartRow:
    """One series drawn as a row of bars, on the scale every row shares."""

    key: str
    label: str
    total: int
    bars: list[Bar]
    # The most in one period and the first period that had it (None when there was nothing).
    peak: int
    peak_label: str | None


@dataclass(frozen=True)
class SignupsChart:
    unit: Unit
    periods: list[Period]
    rows: list[ChartRow]
    # The SVG's viewBox: `width` by `height`.
    width: int
    height: int
    # The tallest bar's value, in any row (the shared scale's top).
    scale_max: int

    @property
    def is_empty(self) -> bool:
        return not self.periods

    @property
    def first_label(self) -> str:
        return self.periods[0].label if self.periods else ""

    @property
    def last_label(self) -> str:
        return self.periods[-1].label if self.periods else ""


def party_signups_chart(*, party: Party, zone: tzinfo | None = None) -> SignupsChart:
    """The party's signups, waitlist joins and cancellations per period in `zone` (the
    current time zone unless given), with the unit the span calls for: one aggregate query
    for the span, one grouped query for the counts (none when nobody signed up)."""
    zone = zone or timezone.get_current_timezone()
    attendees = party.attendees.order_by()
    span = _span(attendees, zone)
    if span is None:
        return _chart(Unit.HOUR, [])
    first, last = span
    unit = _unit_for(first, last)
    counted = _counts(attendees, unit, zone)
    periods = [
        Period(
            start=start,
            label=date_format(start, LABEL_FORMATS[unit]),
            counts=tuple(counted.get((series.key, start), 0) for series in SERIES),
        )
        for start in _starts(unit, first, last)
    ]
    return _chart(unit, periods)


def _span(attendees: QuerySet[Attendee], zone: tzinfo) -> tuple[datetime, datetime] | None:
    """The earliest and latest of the times counted, as wall-clock times in `zone`."""
    bounds = attendees.aggregate(
        **{
            f"{which}_{series.key}": function(series.field)
            for series in SERIES
            for which, function in (("first", Min), ("last", Max))
        }
    )
    moments = [moment for moment in bounds.values() if moment is not None]
    if not moments:
        return None
    first, last = min(moments), max(moments)
    return _wall_clock(first, zone), _wall_clock(last, zone)


def _wall_clock(moment: datetime, zone: tzinfo) -> datetime:
    # Periods are naive wall-clock times, as the database truncates them: an hour repeated
    # when the clocks go back is one period there, so it is one here too.
    return timezone.localtime(moment, zone).replace(tzinfo=None)


def _unit_for(first: datetime, last: datetime) -> Unit:
    for unit, limit in UNIT_LIMITS:
        periods = (_truncate(unit, last) - _truncate(unit, first)) // UNIT_LENGTHS[unit] + 1
        if periods <= limit:
            return unit
    return LONGEST_UNIT


def _truncate(unit: Unit, moment: datetime) -> datetime:
    """The start of the period holding `moment`, as the database's Trunc has it (weeks start
    on Monday, ISO 8601, on SQLite and PostgreSQL alike)."""
    if unit == Unit.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == Unit.DAY:
        return day
    if unit == Unit.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _starts(unit: Unit, first: datetime, last: datetime) -> Iterator[datetime]:
    """Every period's start from the first's to the last's, in wall-clock time (the hour the
    clocks skip going forward is a period of zeros)."""
    start, end = _truncate(unit, first), _truncate(unit, last)
    while start <= end:
        yield start
        if unit == Unit.MONTH:
            start = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        else:
            start += UNIT_LENGTHS[unit]


def _counts(
    attendees: QuerySet[Attendee], unit: Unit, zone: tzinfo
) -> dict[tuple[str, datetime], int]:
    """{(series key, period start): count}, for the periods with something in them: each
    series grouped by its time truncated in `zone`, the three in one UNION ALL query."""
    grouped = [
        attendees.filter(**{f"{series.field}__isnull": False})
        .annotate(
            period=Trunc(series.field, unit.value, output_field=DateTimeField(), tzinfo=zone),
            series=Value(series.key),
        )
        .values("series", "period")
        .annotate(n=Count("pk"))
        for series in SERIES
    ]
    first, *others = grouped
    rows = first.union(*others, all=True)
    # Trunc hands back the wall-clock time it truncated to, with `zone` attached.
    return {(row["series"], row["period"].replace(tzinfo=None)): row["n"] for row in rows}


def _chart(unit: Unit, periods: list[Period]) -> SignupsChart:
    scale_max = max((count for period in periods for count in period.counts), default=0)
    rows = []
    for index, series in enumerate(SERIES):
        values = [period.counts[index] for period in periods]
        peak = max(values, default=0)
        rows.append(
            ChartRow(
                key=series.key,
                label=series.label,
                total=sum(values),
                bars=[
                    _bar(slot, value, period.label, scale_max)
                    for slot, (value, period) in enumerate(zip(values, periods, strict=True))
                ],
                peak=peak,
                peak_label=periods[values.index(peak)].label if peak else None,
            )
        )
    return SignupsChart(
        unit=unit,
        periods=periods,
        rows=rows,
        width=len(periods) * SLOT_WIDTH,
        height=ROW_HEIGHT,
        scale_max=scale_max,
    )


def _bar(slot: int, value: int, label: str, scale_max: int) -> Bar:
    height = 0
    if value:
        height = max(MIN_BAR_HEIGHT, round(value * ROW_HEIGHT / scale_max))
    return Bar(
        x=slot * SLOT_WIDTH + (SLOT_WIDTH - BAR_WIDTH) // 2,
        y=ROW_HEIGHT - height,
        width=BAR_WIDTH,
        height=height,
        value=value,
        label=label,
    )
