"""Signups over time on the party page: signups, waitlist joins and cancellations counted per
hour, day, week or month in the organization's time zone, from grouped queries whatever the
number of attendees; drawn as bars that say the same as the table beside them; and live,
changing with the page's other parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization
from parties import charts, places, services
from parties.charts import Unit, party_signups_chart
from parties.models import Attendee, Party, Place
from tests.support.attendees import add_attendees
from tests.support.signups import signup

pytestmark = pytest.mark.django_db

UTC_ZONE = ZoneInfo("UTC")
# +02:00 all year (no daylight saving time).
PLUS_TWO = "Africa/Johannesburg"


@pytest.fixture
def party(owner, make_party) -> Party:
    return make_party(owner.organization, name="Howl-o-ween")


@pytest.fixture
def attend(party, make_attendee):
    """An attendee of `party` whose times are exactly these (written past auto_now_add)."""

    def make(
        created_at: datetime,
        *,
        waitlisted_at: datetime | None = None,
        cancelled_at: datetime | None = None,
        **fields: object,
    ) -> Attendee:
        attendee = make_attendee(party, **fields)
        Attendee.objects.filter(pk=attendee.pk).update(
            created_at=created_at, waitlisted_at=waitlisted_at, cancelled_at=cancelled_at
        )
        return attendee

    return make


def at(day: int, hour: int, minute: int = 0, month: int = 1) -> datetime:
    return datetime(2030, month, day, hour, minute, tzinfo=UTC)


def table(chart: charts.SignupsChart) -> list[tuple[str, tuple[int, ...]]]:
    return [(period.label, period.counts) for period in chart.periods]


def detail_url(party: Party) -> str:
    return reverse("parties:party_detail", args=[party.pk])


def live_url(party: Party) -> str:
    return reverse("parties:party_live", args=[party.pk])


def set_zone(organization: Organization, name: str) -> None:
    Organization.objects.filter(pk=organization.pk).update(time_zone=name)


# --- Counting ---------------------------------------------------------------------------------


def test_each_hour_counts_its_signups_waitlist_joins_and_cancellations(party, attend):
    attend(at(15, 9, 5))
    attend(at(15, 9, 55), waitlisted_at=at(15, 9, 55))
    attend(at(15, 10, 30), cancelled_at=at(15, 12, 59))

    chart = party_signups_chart(party=party, zone=UTC_ZONE)

    assert chart.unit == Unit.HOUR
    assert table(chart) == [
        ("15 Jan 2030, 09:00", (2, 1, 0)),
        ("15 Jan 2030, 10:00", (1, 0, 0)),
        ("15 Jan 2030, 11:00", (0, 0, 0)),  # a quiet hour is a zero, not a gap
        ("15 Jan 2030, 12:00", (0, 0, 1)),
    ]
    assert [(row.label, row.total) for row in chart.rows] == [
        ("Signups", 3),
        ("Waitlist joins", 1),
        ("Cancellations", 1),
    ]


def test_erased_attendees_still_count(party, attend):
    attend(at(15, 9), cancelled_at=at(15, 10))
    Attendee.objects.update(erased_at=at(15, 11), first_name="", email="erased-1@erased.invalid")

    chart = party_signups_chart(party=party, zone=UTC_ZONE)

    assert table(chart) == [("15 Jan 2030, 09:00", (1, 0, 0)), ("15 Jan 2030, 10:00", (0, 0, 1))]


def test_up_to_48_hours_are_counted_by_the_hour(party, attend):
    attend(at(15, 0))
    attend(at(16, 23, 59))

    chart = party_signups_chart(party=party, zone=UTC_ZONE)

    assert chart.unit == Unit.HOUR
    assert len(chart.periods) == 48


def test_a_49th_hour_counts_by_the_day(party, attend):
    attend(at(15, 0))
    attend(at(17, 0, 1))

    chart = party_signups_chart(party=party, zone=UTC_ZONE)

    assert chart.unit == Unit.DAY
    assert table(chart) == [
        ("Tue 15 Jan 2030", (1, 0, 0)),
        ("Wed 16 Jan 2030", (0, 0, 0)),
        ("Thu 17 Jan 2030", (1, 0, 0)),
    ]


def test_a_late_cancellation_widens_the_span_too(party, attend):
    attend(at(15, 9), cancelled_at=at(20, 9))

    chart = party_signups_chart(party=party, zone=UTC_ZONE)

    assert chart.unit == Unit.DAY
    assert chart.first_label == "Tue 15 Jan 2030"
    assert chart.last_label == "Sun 20 Jan 2030"


def test_past_60_days_the_weeks_start_on_monday(party, attend):
    attend(at(2, 12))  # a Wednesday: its week starts on Monday 31 December 2029
    attend(at(15, 12, month=3))  # 72 days later

    chart = party_signups_chart(party=party, zone=UTC_ZONE)

    assert chart.unit == Unit.WEEK
    assert chart.first_label == "week of 31 Dec 2029"
    assert chart.last_label == "week of 11 Mar 2030"
    assert len(chart.periods) == 11
    assert sum(period.counts[0] for period in chart.periods) == 2


def test_past_60_weeks_it_counts_by_the_month(party, attend):
    attend(at(20, 12))
    attend(datetime(2031, 6, 3, 12, tzinfo=UTC))

    chart = party_signups_chart(party=party, zone=UTC_ZONE)

    assert chart.unit == Unit.MONTH
    assert (chart.first_label, chart.last_label) == ("January 2030", "June 2031")
    assert len(chart.periods) == 18
    assert chart.periods[0].counts == chart.periods[-1].counts == (1, 0, 0)


def test_a_signup_at_23_30_utc_is_on_the_next_day_in_a_plus_two_zone(party, attend):
    attend(at(10, 12))
    attend(at(15, 23, 30))

    chart = party_signups_chart(party=party, zone=ZoneInfo(PLUS_TWO))

    days = dict(table(chart))
    assert days["Tue 15 Jan 2030"] == (0, 0, 0)
    assert days["Wed 16 Jan 2030"] == (1, 0, 0)


def test_the_party_page_counts_in_the_organizations_zone(login, owner, party, attend):
    set_zone(owner.organization, PLUS_TWO)
    attend(at(10, 12))
    attend(at(15, 23, 30))

    page = login(owner).get(detail_url(party)).text

    counted = parse(page)
    assert counted.table["Wed 16 Jan 2030"] == {
        "Signups": 1,
        "Waitlist joins": 0,
        "Cancellations": 0,
    }
    assert counted.table["Tue 15 Jan 2030"]["Signups"] == 0
    assert f"({PLUS_TWO} time)" in page


def test_a_day_whose_midnight_the_clocks_skip_keeps_its_signups(party, attend):
    # Chile moves its clocks from 24:00 to 01:00 on the first Saturday night of September:
    # Sunday 8 September 2030 has no 00:00, yet the database starts the day there.
    santiago = ZoneInfo("America/Santiago")
    attend(datetime(2030, 9, 5, 12, tzinfo=santiago))
    attend(datetime(2030, 9, 8, 10, tzinfo=santiago))

    chart = party_signups_chart(party=party, zone=santiago)

    assert dict(table(chart))["Sun 8 Sep 2030"] == (1, 0, 0)
    assert chart.rows[0].total == 2


# --- Queries ----------------------------------------------------------------------------------


def chart_queries(party: Party) -> int:
    with CaptureQueriesContext(db_connection) as queries:
        party_signups_chart(party=party)
    return len(queries)


def test_the_chart_costs_two_queries_at_100_and_at_10000_attendees(owner, make_party):
    small, large = make_party(owner.organization), make_party(owner.organization)
    add_attendees(small, 100)
    add_attendees(large, 10_000)
    # Spread over a day, a waitlist and cancellations: more buckets, not more queries.
    for party in (small, large):
        attendees = Attendee.objects.filter(party=party)
        attendees.filter(pk__in=attendees.values("pk")[:50]).update(created_at=at(14, 8))
        attendees.filter(pk__in=attendees.values("pk")[:20]).update(
            waitlisted_at=at(14, 9), cancelled_at=at(14, 20)
        )

    assert chart_queries(small) == chart_queries(large) == 2
    assert party_signups_chart(party=large).rows[0].total == 10_000


def test_an_empty_party_costs_one_query(party):
    assert chart_queries(party) == 1


# --- The chart and its table ------------------------------------------------------------------


class ChartPage(HTMLParser):
    """The chart's bars ({series label: {slot: (value, height)}}) and its table ({period:
    {series label: count}}), as a page renders them."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: dict[str, dict[int, tuple[int, int]]] = {}
        self.table: dict[str, dict[str, int]] = {}
        self.titles: dict[str, str] = {}
        self._row_key = ""
        self._labels = {series.key: series.label for series in charts.SERIES}
        self._period = ""
        self._cell = ""
        self._text = ""
        self._in = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        classes = attributes.get("class", "").split()
        if tag == "div" and "chart-row" in classes:
            self._row_key = next(
                name[6:] for name in classes if name.startswith("chart-") and name != "chart-row"
            )
        elif tag == "rect":
            slot = (int(attributes["x"]) - 1) // charts.SLOT_WIDTH
            bars = self.bars.setdefault(self._labels[self._row_key], {})
            bars[slot] = (int(attributes["data-value"]), int(attributes["height"]))
        elif tag == "th" and attributes.get("scope") == "row":
            self._in, self._text = "period", ""
        elif tag == "td" and "data-label" in attributes:
            self._in, self._text, self._cell = "cell", "", attributes["data-label"]

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "th" and self._in == "period":
            self._period = self._text.strip()
            self.table[self._period] = {}
        elif tag == "td" and self._in == "cell":
            self.table[self._period][self._cell] = int(self._text)
        self._in = "" if tag in ("th", "td") else self._in


def parse(page: str) -> ChartPage:
    """The chart's part of a party page or of its live fragment."""
    start = page.index('<div id="live-chart" data-live-part>')
    parser = ChartPage()
    parser.feed(page[start : page.index("</details>", start)])
    return parser


def test_the_bars_say_what_the_table_and_the_counts_say(login, owner, party, attend):
    set_zone(owner.organization, "UTC")
    for minute in range(6):
        attend(at(15, 9, minute))
    attend(at(15, 10), waitlisted_at=at(15, 10))
    attend(at(15, 10, 5), waitlisted_at=at(15, 10, 5), cancelled_at=at(15, 13))
    attend(at(15, 13, 1))

    counted = parse(login(owner).get(detail_url(party)).text)

    chart = party_signups_chart(party=party, zone=UTC_ZONE)
    expected = {period.label: dict(period.cells) for period in chart.periods}
    assert counted.table == expected
    assert counted.table["15 Jan 2030, 09:00"] == {
        "Signups": 6,
        "Waitlist joins": 0,
        "Cancellations": 0,
    }
    labels = list(expected)
    for series in charts.SERIES:
        drawn = counted.bars.get(series.label, {})
        # A bar for each period with something in it, carrying the table's number.
        assert {labels[slot]: value for slot, (value, _height) in drawn.items()} == {
            label: counts[series.label]
            for label, counts in expected.items()
            if counts[series.label]
        }
    # One scale for every row: the tallest bar (6 signups) fills the row, 2 is a third of it.
    assert counted.bars["Signups"][0] == (6, charts.ROW_HEIGHT)
    assert counted.bars["Waitlist joins"][1] == (2, round(charts.ROW_HEIGHT / 3))


def test_a_single_signup_beside_a_rush_still_shows_a_bar(party, attend):
    for minute in range(60):
        attend(at(15, 9, minute))
    attend(at(15, 11))

    bars = party_signups_chart(party=party, zone=UTC_ZONE).rows[0].bars

    assert bars[0].height == charts.ROW_HEIGHT
    assert bars[1].height == 0
    assert bars[2].height == charts.MIN_BAR_HEIGHT > 0
    assert bars[2].y == charts.ROW_HEIGHT - charts.MIN_BAR_HEIGHT


def test_the_chart_is_an_image_named_and_described_for_screen_readers(login, owner, party, attend):
    set_zone(owner.organization, "UTC")
    attend(at(15, 9))
    attend(at(15, 11), cancelled_at=at(15, 11, 30))

    page = login(owner).get(detail_url(party)).text

    assert '<h2 id="signups-over-time-title">Signups over time</h2>' in page
    assert (
        'role="img" aria-labelledby="chart-signups-title" aria-describedby="chart-signups-desc"'
        in page
    )
    assert '<title id="chart-signups-title">Signups per hour</title>' in page
    assert (
        '<desc id="chart-signups-desc">2 in all from 15 Jan 2030, 09:00 to 15 Jan 2030, 11:00; '
        "the most in one hour: 1 (15 Jan 2030, 09:00).</desc>"
    ) in page
    assert (
        '<desc id="chart-waitlisted-desc">None from 15 Jan 2030, 09:00 to 15 Jan 2030, 11:00.'
        "</desc>" in page
    )
    assert "the tallest bar is 1." in page
    assert "<caption>Signups, waitlist joins and cancellations per hour</caption>" in page
    assert '<th scope="col">Hour</th>' in page


def test_an_empty_party_says_so_instead_of_drawing_a_chart(login, owner, party):
    page = login(owner).get(detail_url(party)).text

    assert "Nobody has signed up yet: the chart starts with the first signup." in page
    assert "chart-bars" not in page
    assert "Show the numbers" not in page


def test_another_organizations_party_is_still_not_found(login, make_member, party, attend):
    attend(at(15, 9))
    stranger = make_member()

    client = login(stranger)

    assert client.get(detail_url(party)).status_code == 404
    assert client.get(live_url(party)).status_code == 404


# --- Live -------------------------------------------------------------------------------------


def test_the_live_fragment_has_the_chart(login, owner, party, attend):
    attend(timezone.now())

    fragment = login(owner).get(live_url(party)).text

    assert '<div id="live-chart" data-live-part>' in fragment
    assert "Signups: <strong>1</strong>" in fragment


def test_a_signup_a_waitlist_join_and_cancellations_each_change_the_live_etag(
    login, owner, make_party
):
    party = make_party(owner.organization, capacity=1)
    client = login(owner)

    def etag_after(change) -> str:
        before = client.get(live_url(party))["ETag"]
        change()
        response = client.get(live_url(party), headers={"if-none-match": before})
        assert response.status_code == 200, "the chart changed behind an unchanged ETag"
        return response.text

    page = etag_after(lambda: signup(party, "ann@example.com"))
    assert "Signups: <strong>1</strong>" in page
    page = etag_after(lambda: signup(party, "bob@example.com"))
    assert "Waitlist joins: <strong>1</strong>" in page
    bob = Attendee.objects.get(email="bob@example.com")
    page = etag_after(lambda: places.attendee_cancel(attendee=bob, by=places.BY_ORGANIZER))
    assert "Cancellations: <strong>1</strong>" in page
    # Bob registers again: his cancellation is no longer one, and he joins the waitlist again.
    bob.refresh_from_db()
    page = etag_after(lambda: services.attendee_register_again(attendee=bob))
    assert "Cancellations: <strong>0</strong>" in page
    assert Attendee.objects.get(email="bob@example.com").place == Place.WAITLISTED


def test_the_live_fragment_costs_the_same_queries_at_100_and_at_10000_attendees_with_spread_times(
    login, owner, make_party
):
    small, large = make_party(owner.organization), make_party(owner.organization)
    add_attendees(small, 100)
    add_attendees(large, 10_000)
    day_ago = timezone.now() - timedelta(days=1)
    for party in (small, large):
        Attendee.objects.filter(
            pk__in=Attendee.objects.filter(party=party).values("pk")[:30]
        ).update(created_at=day_ago, cancelled_at=day_ago + timedelta(hours=2))
    client = login(owner)

    def queries(party: Party) -> int:
        with CaptureQueriesContext(db_connection) as captured:
            assert client.get(live_url(party)).status_code == 200
        return len(captured)

    queries(small)  # the session is warm for both
    assert queries(small) == queries(large)
