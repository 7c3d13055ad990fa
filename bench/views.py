"""Scenario 2's baselines, behind the same middleware (CSRF included) as the product:

- `insert`: the least a signup can cost, one INSERT into `bench_signup` (a table the bench
  creates; no model, no form);
- `relay`: the seed design's synchronous relay, two Klaviyo calls (bulk import, bulk
  subscribe) made while the visitor waits, with the product's client (its token handling,
  rate-limit pacing and retries) for the newest bench party's connection and list;
- `signup_without_events`: the product's signup page as it was before the events outbox,
  its event (built, its run planned, its row written: `EVENT_STEPS`) left out by
  `without_registered_event` (which
  `make bench-quick` uses too), so scenario 1 prints what the outbox costs the signup path.
  The bench's gunicorn runs sync workers, one request at a time per process, so leaving it
  out for one request leaves every other request alone.

GET serves a bare form with its CSRF token; a POST answers 303 once done, 502 when Klaviyo
refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from unittest.mock import patch

from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.views.decorators.http import require_http_methods

from integrations.clients import klaviyo_client
from integrations.errors import ConnectionUnusable
from integrations.klaviyo.errors import KlaviyoError
from parties import public_views
from parties.models import Party

FORM = (
    '<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
    '<input name="email"><button>Sign up</button></form>'
)


def _form(request: HttpRequest) -> HttpResponse:
    return HttpResponse(FORM.format(token=get_token(request)))


@require_http_methods(["GET", "POST"])
def insert(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _form(request)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_signup (email, created_at) VALUES (%s, now())",
            [request.POST.get("email", "")[:254]],
        )
    return HttpResponseRedirect(request.path, status=303)


@require_http_methods(["GET", "POST"])
def relay(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _form(request)
    party = Party.objects.select_related("connection").exclude(klaviyo_list_id="").latest("pk")
    client = klaviyo_client(connection=party.connection)
    email = request.POST.get("email", "")[:254]
    try:
        client.bulk_import_profiles(
            profiles=[{"email": email, "first_name": request.POST.get("first_name", "")}],
            list_id=party.klaviyo_list_id,
        )
        client.subscribe_profiles(
            list_id=party.klaviyo_list_id,
            emails_with_consent=[email],
            custom_source="Partyline bench relay",
        )
    except (KlaviyoError, ConnectionUnusable):
        return HttpResponse("Klaviyo refused", status=502)
    return HttpResponseRedirect(request.path, status=303)


def signup_without_events(request: HttpRequest, slug: str) -> HttpResponse:
    with without_registered_event():
        return public_views.signup(request, slug)


# What a signup does for its event (`parties.places.place_new`): build it, plan the account's
# run, write it. tests/test_bench_package.py checks each still exists.
EVENT_STEPS = (
    "parties.places.party_base",
    "parties.places.attendee_event",
    "parties.places.events_write",
    "parties.tasks.events_send_request",
)


@contextmanager
def without_registered_event() -> Iterator[None]:
    """While it lasts, a signup records no event (in this process): what the signup path
    costs without the events outbox."""
    with ExitStack() as stack:
        for step in EVENT_STEPS:
            stack.enter_context(patch(step, _no_event))
        yield


def _no_event(*_args: object, **_kwargs: object) -> None:
    """Where the signup would build, plan or write its event: nothing."""
