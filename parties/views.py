"""The organizer's party pages. Each view parses input, calls one service or selector, then
sets a message and redirects or renders. Every party is fetched through the tenant door."""

from __future__ import annotations

import csv
import hashlib
import itertools
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from functools import cached_property
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.tenancy import (
    OrganizationRequest,
    door_required,
    get_for_org_or_404,
    manager_required,
    organization_required,
)
from core.limits import Limit, over_limit
from core.snapshots import one_snapshot
from core.wording import wait_text
from integrations.selectors import active_connections_for
from parties import charts, embed, places, questions, selectors, services
from parties.attendance import attendance_counts, with_attendance
from parties.forms import AttendeeFilterForm, PartyDeleteForm, PartyForm
from parties.models import Attendee, Party, Place, Reconciliation, SyncState

logger = logging.getLogger(__name__)

ATTENDEES_PER_PAGE = 50
# Differences listed on the reconcile page; the CSV has all that were kept.
RECONCILE_SHOWN = 50
# (heading, attendee attribute or method): the state is the label an organizer reads.
CSV_NAME_COLUMNS = (
    ("email", "email"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
)
# Then one column per question, headed by its key (a new party's first two are pet_name and
# pet_type, where those columns always were), then these.
CSV_COLUMNS = (
    ("consented_at", "consented_at"),
    ("status", "get_sync_state_display"),
    ("status_reason", "state_reason"),
    ("sent_at", "sent_at"),
    ("in_list_since", "synced_at"),
    ("klaviyo_profile_id", "klaviyo_profile_id"),
    # Last, so spreadsheets built on the earlier columns keep working.
    ("place", "get_place_display"),
    ("waitlist_position", "waitlist_position"),
    # The consent record: what they decided, the words they saw (version and text), where.
    ("marketing_consent", "marketing_consent"),
    ("consent_wording_version", "consent_wording_version"),
    ("consent_wording", "consent_wording_text"),
    ("signup_source", "get_signup_source_display"),
    # Where the signup came from (parties.attribution).
    ("utm_source", "utm_source"),
    ("utm_medium", "utm_medium"),
    ("utm_campaign", "utm_campaign"),
    ("referrer_host", "referrer_host"),
    # Who came: their standing check-in at the door (its time), and whether they walked in.
    ("checked_in_at", "checked_in_at"),
    ("walk_in", "walk_in"),
)
# Excel reads a CSV as UTF-8 only when it starts with the byte-order mark.
CSV_BOM = "\ufeff"
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _party(request: OrganizationRequest, pk: int) -> Party:
    return get_for_org_or_404(
        # The event sender: whether the account's events are paused, for the party page.
        Party.objects.select_related("connection", "connection__event_sender"),
        organization=request.organization,
        pk=pk,
    )


def _posted(request: HttpRequest) -> QueryDict | None:
    """The form data of a POST, even an empty one (`request.POST or None` would drop it)."""
    return request.POST if request.method == "POST" else None


@door_required
def home(request: OrganizationRequest) -> HttpResponse:
    """A checklist until the organization is set up, then its parties and what needs a look;
    for door staff, the door's list of parties (the only pages they may see)."""
    if request.membership.is_door_staff:
        return redirect("door:party_list")
    return render(
        request,
        "home.html",
        {
            "overview": selectors.home_overview(organization=request.organization),
            "can_manage": request.membership.can_manage,
        },
    )


@organization_required
@require_GET
def party_list(request: OrganizationRequest) -> HttpResponse:
    return render(
        request,
        "parties/party_list.html",
        {
            "parties": selectors.with_health(
                selectors.parties_for(organization=request.organization)
            ),
            "can_manage": request.membership.can_manage,
        },
    )


@manager_required
@require_http_methods(["GET", "POST"])
def party_create(request: OrganizationRequest) -> HttpResponse:
    return _party_create_page(request)


@manager_required
@require_http_methods(["GET", "POST"])
def party_duplicate(request: OrganizationRequest, pk: int) -> HttpResponse:
    """The new-party form filled in from a party (its details, capacity, settings, and its
    questions when saved), for the organizer to change the date and save."""
    return _party_create_page(request, source=_party(request, pk))


def _party_create_page(request: OrganizationRequest, source: Party | None = None) -> HttpResponse:
    connections = active_connections_for(organization=request.organization)
    if not connections.exists():
        return render(request, "parties/party_form.html", {"no_connection": True})
    initial = {}
    if source is not None:
        initial = {
            **PartyForm.initial_for(source),
            "name": services.copy_name(source.name),
            "opt_in_process": source.opt_in_process,
            "connection": source.connection_id,
        }
    form = PartyForm(
        _posted(request),
        initial=initial,
        connections=connections,
        default_reminder_hours=request.organization.reminder_hours,
    )
    if request.method == "POST" and form.is_valid():
        try:
            party = services.party_create(
                membership=request.membership,
                connection=form.connection,
                data=form.party_data,
                questions_from=source,
            )
        except services.PartyError as error:
            messages.error(request, str(error))
        else:
            if party.list_error:  # today's new lists are all used in the Klaviyo account
                messages.warning(
                    request,
                    f"Created {party.name}. {party.list_error}. You can share the signup link "
                    "already: signups are kept and sent once the list exists.",
                )
            else:
                # Only what stays true: the list's progress is the page's live status.
                messages.success(
                    request,
                    f"Created {party.name}. You can share its signup link already: every "
                    "signup is kept and goes to Klaviyo once the party's list is ready.",
                )
            return redirect("parties:party_detail", pk=party.pk)
    status = 400 if form.is_bound else 200
    notices = selectors.list_budget_notices(connections=connections)
    return render(
        request,
        "parties/party_form.html",
        {
            "form": form,
            "list_budget_notices": notices,
            "source": source,
            "source_questions": questions.questions_asked(source) if source else [],
        },
        status=status,
    )


class _CountedPaginator(Paginator):
    """A paginator told its count (the counts by state already hold it): no COUNT query."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


def _live_context(
    request: OrganizationRequest, party: Party, snapshot: selectors.PartySnapshot
) -> dict[str, Any]:
    """What the party page and its live fragment share: counts, the sync's health, and the
    version (ETag) of what they show."""
    counts = snapshot.counts
    health = selectors.party_health(party=party, in_flight=counts["in_flight"])
    events = selectors.party_events(party=party)
    attendance = selectors.attendance_summary(
        party=party, counts=attendance_counts(party), places=snapshot.places
    )
    return {
        "attendance": attendance,
        "party": party,
        "counts": counts,
        "state_summary": selectors.party_state_summary(counts=counts),
        "place_counts": snapshot.places,
        "place_summary": selectors.place_summary(places=snapshot.places),
        "seats_taken": snapshot.seats_taken,
        "health": health,
        "attention": selectors.Attention(retryable=counts["retryable"], health=health),
        # The organization's retention limit, as a date for this party (None: kept).
        "details_erased_on": _details_erased_on(request, party),
        "events": events,
        "event_columns": selectors.EVENT_COLUMNS,
        "can_manage": request.membership.can_manage,
        "live_etag": _live_etag(request, party, snapshot, health, events, attendance),
    }


def _details_erased_on(request: OrganizationRequest, party: Party) -> datetime | None:
    days = request.organization.attendee_retention_days
    return party.ends_at_or_default + timedelta(days=days) if days is not None else None


def _live_etag(
    request: OrganizationRequest,
    party: Party,
    snapshot: selectors.PartySnapshot,
    health: selectors.SyncHealth,
    events: selectors.PartyEvents,
    attendance: selectors.AttendanceSummary | None,
) -> str:
    """Changes whenever anything the live parts show does: every field of the party (its
    Details are live), the connection's fields they read, the organization's default
    reminders, the counts, the newest attendee change, the health (with its times), the
    events' counts (an attendee's event changing state changes them), and who is looking
    (managers see Retry buttons; times are in the current time zone). The signups chart
    needs nothing more: what it counts moves with a signup (the total), a waitlist join or a
    cancellation, or a new registration after one (the counts by place)."""
    connection = party.connection
    version = (
        [getattr(party, field.attname) for field in Party._meta.concrete_fields],
        request.organization.reminder_hours,
        request.organization.attendee_retention_days,
        connection.status,
        connection.display_name,
        connection.last_error,
        health,
        sorted(snapshot.counts.items()),
        sorted(snapshot.places.items()),
        snapshot.latest_change,
        events,
        # Check-ins and undos at the door (the attendees' "Checked in" too).
        attendance,
        request.membership.can_manage,
        timezone.get_current_timezone_name(),
        timezone.localdate(),
    )
    return f'"{hashlib.sha256(repr(version).encode()).hexdigest()[:32]}"'


@organization_required
@require_GET
def party_detail(request: OrganizationRequest, pk: int) -> HttpResponse:
    filters = AttendeeFilterForm(request.GET)
    query, state, place = filters.value("q"), filters.value("state"), filters.value("place")
    filtered = bool(query or state or place)
    # Counts, status, Details and rows from one moment: they never contradict each other.
    with one_snapshot():
        party = _party(request, pk)
        snapshot = selectors.party_snapshot(party=party)
        attendees = with_attendance(
            selectors.with_events(
                selectors.with_waitlist_position(
                    selectors.attendees_for(party=party, query=query, state=state, place=place)
                )
            )
        )
        if filtered:
            paginator = Paginator(attendees, ATTENDEES_PER_PAGE)
        else:
            paginator = _CountedPaginator(
                attendees, ATTENDEES_PER_PAGE, count=snapshot.counts["total"]
            )
        public_url = request.build_absolute_uri(reverse("parties:signup", args=[party.slug]))
        return render(
            request,
            "parties/party_detail.html",
            {
                **_live_context(request, party, snapshot),
                "filters": filters,
                "filtered": filtered,
                "page_obj": paginator.get_page(request.GET.get("page")),
                "public_url": public_url,
                "waitlist": selectors.waitlist_head(party=party),
                "questions": questions.questions_all(party),
                "chart": charts.party_signups_chart(party=party),
                "sources": selectors.signup_sources(party=party),
                "embed": embed.snippets(party),
                "embed_origins": request.organization.embed_origins,
            },
        )


@organization_required
@require_GET
def party_live(request: OrganizationRequest, pk: int) -> HttpResponse:
    """The party page's live parts (badges, status, Details, counts, the signups chart, the
    first page of attendees) as one HTML fragment read in one snapshot, polled by
    static/js/party-live.js every few seconds. After the tenant door's query, one for the
    counts, two for the chart, one for the questions and one for the page of attendees,
    whatever their number; a 304 (the If-None-Match ETag is current) skips the page."""
    with one_snapshot():
        party = _party(request, pk)
        context = _live_context(request, party, selectors.party_snapshot(party=party))
        etag = context["live_etag"]
        response = get_conditional_response(request, etag=etag)
        if response is None:
            paginator = _CountedPaginator(
                with_attendance(
                    selectors.with_events(
                        selectors.with_waitlist_position(selectors.attendees_for(party=party))
                    )
                ),
                ATTENDEES_PER_PAGE,
                count=context["counts"]["total"],
            )
            context.update(
                page_obj=paginator.get_page(1),
                filtered=False,
                waitlist=selectors.waitlist_head(party=party),
                questions=questions.questions_all(party),
                chart=charts.party_signups_chart(party=party),
            )
            response = render(request, "parties/_live.html", context)
    response["ETag"] = etag
    patch_cache_control(response, private=True, no_cache=True)
    return response


@manager_required
@require_http_methods(["GET", "POST"])
def party_edit(request: OrganizationRequest, pk: int) -> HttpResponse:
    party = _party(request, pk)
    form = PartyForm(
        _posted(request),
        initial=PartyForm.initial_for(party),
        default_reminder_hours=request.organization.reminder_hours,
    )
    if request.method == "POST" and form.is_valid():
        try:
            update = services.party_update(party=party, data=form.party_data)
        except services.PartyError as error:  # a capacity below the places held now
            form.add_error("capacity", str(error))
        else:
            messages.success(request, _saved_message(update))
            return redirect("parties:party_detail", pk=party.pk)
    status = 400 if form.is_bound else 200
    context = {"form": form, "party": party, "registered": party.attendees.count()}
    return render(request, "parties/party_form.html", context, status=status)


def _saved_message(update: services.PartyUpdate) -> str:
    said = [f"Saved {update.party.name}."]
    if update.renaming:
        said.append("Its Klaviyo list is being renamed to match.")
    if update.told:
        attendees = "attendee" if update.told == 1 else "attendees"
        said.append(
            f"{update.told} registered {attendees} will get a Party Details Changed event "
            "(your Klaviyo flow on it can email them the new details)."
        )
    if update.promoted:
        people = "person" if update.promoted == 1 else "people"
        if update.party.claim_window_hours:
            said.append(f"{update.promoted} {people} on the waitlist were offered a place.")
        else:
            said.append(f"{update.promoted} {people} moved up from the waitlist and registered.")
    return " ".join(said)


@manager_required
@require_POST
def party_signups(request: OrganizationRequest, pk: int) -> HttpResponse:
    party = _party(request, pk)
    choice = request.POST.get("open")
    if choice not in ("0", "1"):
        messages.error(request, "Choose whether to open or close signups.")
        return redirect("parties:party_detail", pk=party.pk)
    try:
        party = services.party_set_signups_open(party=party, is_open=choice == "1")
    except services.PartyError as error:
        messages.error(request, str(error))
        return redirect("parties:party_detail", pk=party.pk)
    if party.signups_open:
        messages.success(request, "Signups are open: the public page accepts signups again.")
    else:
        messages.success(request, "Signups are closed: the public page no longer takes signups.")
    return redirect("parties:party_detail", pk=party.pk)


@manager_required
@require_http_methods(["GET", "POST"])
def party_delete(request: OrganizationRequest, pk: int) -> HttpResponse:
    party = _party(request, pk)
    form = PartyDeleteForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        name = party.name
        list_queued = services.party_delete(
            party=party, delete_klaviyo_list=form.cleaned_data["delete_list"]
        )
        if list_queued:
            messages.success(
                request,
                f"Deleted {name} and its signups. Its Klaviyo list is being deleted in the "
                "background (retried for an hour if Klaviyo is busy).",
            )
        else:
            messages.success(request, f"Deleted {name} and its signups.")
        return redirect("parties:party_list")
    return render(request, "parties/party_delete.html", {"party": party, "form": form})


@manager_required
@require_http_methods(["GET", "POST"])
def party_cancel(request: OrganizationRequest, pk: int) -> HttpResponse:
    """Ask, then call the whole party off (the party stays, and can still be deleted)."""
    party = _party(request, pk)
    if party.is_cancelled:
        messages.info(request, f"{party.name} was already cancelled.")
        return redirect("parties:party_detail", pk=party.pk)
    if request.method == "POST":
        if not services.party_cancel(party=party):  # someone else cancelled it meanwhile
            messages.info(request, f"{party.name} was already cancelled.")
            return redirect("parties:party_detail", pk=party.pk)
        messages.success(
            request,
            f"Cancelled {party.name}. Signups are closed, reminders not sent yet are withdrawn, "
            "and each registered attendee will get a Party Cancelled event.",
        )
        return redirect("parties:party_detail", pk=party.pk)
    context = {"party": party, "registered": party.attendees.count()}
    return render(request, "parties/party_cancel.html", context)


def _test_events_limit(pk: int) -> Limit:
    return Limit("sample-events-party", "SAMPLE_EVENTS_RATE_PER_PARTY", key=lambda _r: str(pk))


@manager_required
@require_POST
def party_test_events(request: OrganizationRequest, pk: int) -> HttpResponse:
    """One sample event of each metric, of this party's details, for the person asking."""
    party = _party(request, pk)
    # Each press writes nine events into the account: once a minute a party is plenty.
    wait = over_limit(request, _test_events_limit(party.pk))
    if wait:
        messages.error(
            request,
            "Test events for this party were sent moments ago; to keep Klaviyo free of "
            f"duplicates, try again in {wait_text(wait)}.",
        )
        return redirect(_events_anchor(party))
    try:
        services.sample_events_request(connection=party.connection, user=request.user, party=party)
    except services.PartyError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            "Sample events of each metric are on their way to Klaviyo for "
            f"{request.user.email} (marked sample: true).",
        )
    return redirect(_events_anchor(party))


def _events_anchor(party: Party) -> str:
    return f"{reverse('parties:party_detail', args=[party.pk])}#klaviyo-events"


@manager_required
@require_POST
def attendee_retry(request: OrganizationRequest, pk: int, attendee_pk: int) -> HttpResponse:
    party = _party(request, pk)
    attendee = _attendee(party, attendee_pk)
    if services.attendee_retry(attendee=attendee):
        messages.success(request, f"{attendee.email} will be sent to Klaviyo again shortly.")
    elif attendee.sync_state == SyncState.FAILED and attendee.refused_as_sent:
        messages.info(
            request,
            f"Klaviyo refused {attendee.email} as sent, so sending it again would be refused "
            "again. Nothing was retried.",
        )
    else:
        messages.info(request, f"{attendee.email} has nothing to retry.")
    return redirect("parties:party_detail", pk=party.pk)


@manager_required
@require_POST
def party_retry_failed(request: OrganizationRequest, pk: int) -> HttpResponse:
    party = _party(request, pk)
    count = services.party_retry_failed(party=party)
    if count:
        signups = "signup" if count == 1 else "signups"
        messages.success(
            request, f"{count} rejected {signups} will be sent to Klaviyo again shortly."
        )
    else:
        messages.info(request, "No rejected signups to retry.")
    return redirect("parties:party_detail", pk=party.pk)


def _attendee(party: Party, attendee_pk: int) -> Attendee:
    attendee: Attendee = get_object_or_404(party.attendees, pk=attendee_pk)
    return attendee


def _attendees_anchor(party: Party) -> str:
    return f"{reverse('parties:party_detail', args=[party.pk])}#attendees"


def _waitlist_anchor(party: Party) -> str:
    return f"{reverse('parties:party_detail', args=[party.pk])}#waitlist"


@manager_required
@require_POST
def attendee_promote(request: OrganizationRequest, pk: int, attendee_pk: int) -> HttpResponse:
    """Register someone from the waitlist by hand, ahead of their turn."""
    party = _party(request, pk)
    attendee = _attendee(party, attendee_pk)
    if attendee.place == Place.REGISTERED:  # a second click, or promoted meanwhile
        messages.info(request, f"{attendee.email} is registered already.")
        return redirect(_waitlist_anchor(party))
    try:
        places.attendee_promote(attendee=attendee)
    except services.PartyError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"{attendee.email} is registered: they get a Registered for Party event and join "
            "the party's Klaviyo list.",
        )
    return redirect(_waitlist_anchor(party))


@manager_required
@require_POST
def attendee_link_renew(request: OrganizationRequest, pk: int, attendee_pk: int) -> HttpResponse:
    """Replace an attendee's private link (shared by mistake, forwarded): the old one stops
    working at once. The organizer sees the new one, to send it to them."""
    party = _party(request, pk)
    attendee = _attendee(party, attendee_pk)
    token = services.attendee_link_renew(attendee=attendee)
    link = request.build_absolute_uri(reverse("parties:attendee_manage", args=[token]))
    messages.success(
        request,
        f"{attendee.email}'s old link no longer works. Their new link is {link}: it is in "
        "every email about the party from now on, and you can send it to them yourself.",
    )
    return redirect(_attendees_anchor(party))


@manager_required
@require_http_methods(["GET", "POST"])
def attendee_cancel(request: OrganizationRequest, pk: int, attendee_pk: int) -> HttpResponse:
    """Ask, then cancel someone's registration, offer or waitlist place (as their own cancel
    does, `cancelled_by: organizer`). The waitlist's Remove button posts here directly."""
    party = _party(request, pk)
    attendee = _attendee(party, attendee_pk)
    back = _waitlist_anchor(party) if request.POST.get("from") == "waitlist" else None
    if request.method == "POST":
        if places.attendee_cancel(attendee=attendee, by=places.BY_ORGANIZER):
            messages.success(
                request,
                f"Cancelled {attendee.email}'s registration: they get a Cancelled Party "
                "Registration event and leave the party's Klaviyo list (their consent stays).",
            )
        else:  # a second click, or cancelled meanwhile
            messages.info(request, f"{attendee.email}'s registration was already cancelled.")
        return redirect(back or _attendees_anchor(party))
    if attendee.place == Place.CANCELLED:
        messages.info(request, f"{attendee.email}'s registration was already cancelled.")
        return redirect(_attendees_anchor(party))
    return render(
        request,
        "parties/attendee_cancel.html",
        {
            "party": party,
            "attendee": attendee,
            "holds_place": attendee.place in (Place.REGISTERED, Place.OFFERED),
            "position": places.waitlist_position(attendee),
        },
    )


class _Echo:
    """The file-like object csv.writer needs, handing each row back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _csv_cell(value: object, zone: tzinfo) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        value = timezone.localtime(value, zone).replace(microsecond=0).isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def _csv_value(attendee: object, attribute: str) -> object:
    value = getattr(attendee, attribute)
    return value() if callable(value) else value


def _attendee_rows(party: Party) -> Iterator[list[object]]:
    asked = questions.questions_all(party)
    yield [
        *(heading for heading, _attribute in CSV_NAME_COLUMNS),
        *(question.key for question in asked),
        *(heading for heading, _attribute in CSV_COLUMNS),
    ]
    attendees = with_attendance(
        selectors.with_waitlist_rank(selectors.attendees_for(party=party))
    ).annotate(
        consent_wording_version=F("consent_wording__version"),
        consent_wording_text=F("consent_wording__marketing"),
    )
    for attendee in attendees.iterator(chunk_size=500):
        yield [
            *(_csv_value(attendee, attribute) for _heading, attribute in CSV_NAME_COLUMNS),
            *(questions.answer_text(attendee.answers.get(q.key)) for q in asked),
            *(_csv_value(attendee, attribute) for _heading, attribute in CSV_COLUMNS),
        ]


def _csv_download(rows: Iterator[list[object]], filename: str) -> StreamingHttpResponse:
    """Rows streamed as a CSV attachment, each cell defused for spreadsheets.

    It starts with a UTF-8 byte-order mark, without which Excel reads the file as the
    system's legacy code page and garbles accented names. Times are in the organization's
    zone, taken now: the rows are written after the view returns, when it is reset.
    """
    writer = csv.writer(_Echo())
    zone = timezone.get_current_timezone()
    lines = (writer.writerow([_csv_cell(cell, zone) for cell in row]) for row in rows)
    response = StreamingHttpResponse(
        itertools.chain([CSV_BOM], lines), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@organization_required
@require_GET
def attendees_csv(request: OrganizationRequest, pk: int) -> StreamingHttpResponse:
    party = _party(request, pk)
    # Named for people's downloads folder: the party and the day it was taken.
    name = slugify(party.name) or "party"
    filename = f"{name}-attendees-{timezone.localdate():%Y-%m-%d}.csv"
    return _csv_download(_attendee_rows(party), filename)


@manager_required
@require_http_methods(["GET", "POST"])
def party_reconcile(request: OrganizationRequest, pk: int) -> HttpResponse:
    """Ask for a comparison (POST, run as a task) and show the latest one while it runs."""
    party = _party(request, pk)
    if request.method == "POST":
        try:
            services.reconciliation_request(party=party, user=request.user)
        except services.PartyError as error:
            messages.error(request, str(error))
        return redirect("parties:party_reconcile", pk=party.pk)
    result = selectors.reconciliation_latest(party=party)
    return render(
        request,
        "parties/reconcile.html",
        {
            "party": party,
            "result": result,
            "shown": result.differences[:RECONCILE_SHOWN] if result else [],
            "shown_limit": RECONCILE_SHOWN,
        },
    )


@manager_required
@require_GET
def reconcile_csv(
    request: OrganizationRequest, pk: int, reconciliation_pk: int
) -> StreamingHttpResponse:
    party = _party(request, pk)
    result: Reconciliation = get_object_or_404(party.reconciliations, pk=reconciliation_pk)
    rows = [
        ["email", "difference", "status_here"],
        *([item["email"], item["difference"], item["state"]] for item in result.differences),
    ]
    return _csv_download(iter(rows), f"party-{party.pk}-klaviyo-differences.csv")
