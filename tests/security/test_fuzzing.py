"""Property-based tests of what strangers can send: the OAuth callback's query string, the start
URL, the public signup form and the JSON API. Whatever arrives (arbitrary strings, missing and
repeated parameters, huge values, odd unicode, NUL bytes, invalid UTF-8), the answer is never a
500, nothing is half-written, and every answer under /api/ is JSON.

`FUZZ_EXAMPLES=2000 make test PYTEST_ARGS=tests/security/test_fuzzing.py` searches longer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, quote_from_bytes, urlencode

import pytest
import responses
from django.apps import apps
from django.core.cache import cache
from django.db import connection as db_connection
from django.db import router, transaction
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts import services as accounts_services
from integrations.klaviyo import pkce
from integrations.models import KlaviyoConnection, OAuthState
from parties.models import Attendee, ConsentWording, Party, PartyEvent

settings.register_profile(
    "partyline-fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    # CI replays the same examples every run; a developer's run explores new ones.
    derandomize=bool(os.environ.get("CI")),
    # The fixtures (users, a party, a connection) are shared by a test's examples on purpose;
    # each example runs in a savepoint that is rolled back.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
FUZZ = settings.get_profile("partyline-fuzz")

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])

REVOKE_URL = "https://klaviyo.test/oauth/revoke"
NONCE = "n" * 43
REAL = "<a real one>"  # replaced by a real state or connection id when drawn

# --- What strangers send --------------------------------------------------------------------

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "%00",
    "\u202eevil",
    "e\u0301",
    "\ufeffbom",
    "\U0001d518\U0001d52b\U0001d526",
    "🎉" * 60,
    "x" * 5000,
    "'; DROP TABLE integrations_oauthstate; --",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "\r\nSet-Cookie: x=1",
    "-1",
    "9" * 40,
    "null",
]
# Any unicode that UTF-8 can carry (lone surrogates cannot be sent at all).
free_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
texts = st.one_of(st.sampled_from(NASTY), free_text, st.just("y" * 100_000))
# Header and cookie values reach Django as ISO-8859-1 (PEP 3333).
latin1 = st.binary(max_size=80).map(lambda raw: raw.decode("iso-8859-1"))


def query_strings(names: list[str]) -> st.SearchStrategy[str]:
    """Raw query strings: known and unknown names, repeated or missing, any values, invalid
    UTF-8, and more fields than Django accepts."""
    pairs = st.lists(
        st.tuples(st.one_of(st.sampled_from(names), free_text), texts), max_size=8
    ).map(lambda items: "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in items))
    raw = st.binary(max_size=120).map(lambda data: quote_from_bytes(data, safe="=&"))
    too_many = st.just("&".join(f"f{n}=1" for n in range(1500)))
    return st.one_of(pairs, raw, too_many)


# --- Checking each example --------------------------------------------------------------------


def row_counts() -> dict[str, int]:
    """Rows per table of the product's database (a model whose migration is still being
    written has no table yet)."""
    tables = set(db_connection.introspection.table_names())
    return {
        model._meta.label: model._base_manager.count()
        for model in apps.get_models()
        if router.allow_migrate_model("default", model) and model._meta.db_table in tables
    }


def growth(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {label: after[label] - before[label] for label in after if after[label] != before[label]}


@contextmanager
def one_example() -> Iterator[None]:
    """Each example starts from the same rows and fresh rate-limit counters."""
    cache.clear()
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def assert_no_server_error(response: HttpResponse) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:300])


# --- Fixtures --------------------------------------------------------------------------------


@pytest.fixture
def organizer(login, owner) -> Client:
    return login(owner)


@pytest.fixture
def make_attempt(owner):
    def make(nonce: str) -> OAuthState:
        return OAuthState.objects.create(
            state=pkce.generate_state(),
            code_verifier=pkce.generate_code_verifier(),
            browser_nonce=nonce,
            user=owner.user,
            organization=owner.organization,
            redirect_uri="http://testserver/integrations/klaviyo/callback/",
            expires_at=timezone.now() + OAuthState.LIFETIME,
        )

    return make


# --- The OAuth callback ----------------------------------------------------------------------


@FUZZ
@given(
    query=query_strings(["state", "code", "error", "error_description"]),
    real_state=st.sampled_from([None, "first", "last"]),
    nonce=st.one_of(st.just(NONCE), latin1),
    logged_in=st.booleans(),
)
@example(query="state=a%00b&code=x", real_state=None, nonce=NONCE, logged_in=True)
@example(query="code=a%00b", real_state="last", nonce=NONCE, logged_in=True)
@example(query="error=access_denied%00", real_state="last", nonce="a\x00b", logged_in=True)
def test_the_callback_never_fails_whatever_the_query(
    organizer, make_attempt, sandbox, query, real_state, nonce, logged_in
):
    with one_example():
        client = organizer if logged_in else Client()
        client.cookies["partyline_oauth_nonce"] = nonce
        if real_state:
            state = f"state={make_attempt(NONCE).state}"
            query = f"{state}&{query}" if real_state == "first" else f"{query}&{state}"
        before = row_counts()

        response = client.get("/integrations/klaviyo/callback/", QUERY_STRING=query)

        assert_no_server_error(response)
        assert growth(before, row_counts()) == {}
        assert KlaviyoConnection.objects.count() == 0


# --- The start URL of a JSON API connect ------------------------------------------------------


@FUZZ
@given(
    segment=st.one_of(
        texts.map(lambda text: quote(text, safe="")),
        st.binary(min_size=1, max_size=80).map(lambda data: quote_from_bytes(data, safe="")),
        st.just(REAL),
    ),
    nonce=st.one_of(st.just(NONCE), latin1),
    logged_in=st.booleans(),
)
@example(segment="a%00b", nonce=NONCE, logged_in=True)
@example(segment=REAL, nonce="a\x00b", logged_in=True)
def test_the_start_url_never_fails_whatever_the_state(
    organizer, make_attempt, segment, nonce, logged_in
):
    with one_example():
        client = organizer if logged_in else Client()
        client.cookies["partyline_oauth_nonce"] = nonce
        if segment == REAL:
            segment = make_attempt("").state
        before = row_counts()

        response = client.get(f"/integrations/klaviyo/start/{segment}/")

        assert_no_server_error(response)
        assert growth(before, row_counts()) == {}


# --- The public signup form -------------------------------------------------------------------

SIGNUP_FIELDS = [
    "first_name",
    "last_name",
    "email",
    "pet_name",
    "pet_type",
    "marketing_consent",
    "consent_wording",
    "website",
]
VALID_SIGNUP = [
    ("first_name", "Sarah"),
    ("email", "sarah@example.com"),
    ("pet_name", "Rex"),
    ("pet_type", "dog"),
    ("marketing_consent", "on"),
]


@pytest.fixture
def party(owner, make_party) -> Party:
    return make_party(owner.organization, name="Howl-o-ween", klaviyo_list_name="Howl-o-ween")


@FUZZ
@given(
    start_valid=st.booleans(),
    fields=st.lists(st.tuples(st.one_of(st.sampled_from(SIGNUP_FIELDS), free_text), texts)),
    raw_body=st.one_of(st.none(), st.binary(max_size=200)),
)
@example(start_valid=True, fields=[("first_name", "a\x00b")], raw_body=None)
@example(start_valid=True, fields=[("email", "a\x00b@example.com")], raw_body=None)
@example(start_valid=True, fields=[("pet_name", "x" * 100_000)], raw_body=None)
@example(start_valid=True, fields=[], raw_body=None)
def test_the_signup_form_never_fails_or_half_writes(party, start_valid, fields, raw_body):
    with one_example():
        if raw_body is not None:
            body = quote_from_bytes(raw_body, safe="=&")
        else:
            body = urlencode((VALID_SIGNUP if start_valid else []) + fields)
        before = row_counts()

        response = Client().post(
            f"/p/{party.slug}/", body, content_type="application/x-www-form-urlencoded"
        )

        assert_no_server_error(response)
        grew = growth(before, row_counts())
        # The form's consent wording is made the first time the page shows it, taken or not.
        assert grew.pop(ConsentWording._meta.label, 0) <= 1
        if response.status_code != 303:
            assert grew == {}
            return
        # Accepted: at most the attendee, its `Registered for Party` event, its party's sync
        # task and its account's event sending task, and a whole attendee.
        assert set(grew) <= {
            Attendee._meta.label,
            PartyEvent._meta.label,
            DBTaskResult._meta.label,
        }
        assert grew.get(Attendee._meta.label, 0) <= 1
        assert grew.get(PartyEvent._meta.label, 0) <= 1
        assert grew.get(DBTaskResult._meta.label, 0) <= 2
        for attendee in Attendee.objects.filter(party=party):
            assert attendee.email
            assert "\x00" not in attendee.email
            assert attendee.consented_at is not None


# --- The JSON API -------------------------------------------------------------------------------


@pytest.fixture
def api_setup(owner, make_connection, settings):
    settings.KLAVIYO_BASE_URL = "https://klaviyo.test"
    settings.KLAVIYO_AUTHORIZE_URL = "https://klaviyo.test/oauth/authorize"
    connection = make_connection(owner.organization)
    _token, raw = accounts_services.api_token_create(membership=owner, name="fuzz")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, REVOKE_URL, status=200)
        yield {"connection": connection, "token": raw}


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]),
    path=st.one_of(
        st.sampled_from(["/api/oauth/connect/klaviyo", "/api/oauth/accounts"]),
        st.one_of(st.just(REAL), st.integers(min_value=-1, max_value=10**40).map(str), texts).map(
            lambda pk: f"/api/oauth/accounts/{pk if pk == REAL else quote(pk, safe='')}"
        ),
        texts.map(lambda text: "/api/" + quote(text, safe="/")),
    ),
    query=query_strings(["accountName"]),
    auth=st.sampled_from(["session", "token", "unknown token", "garbage", "none"]),
    garbage=latin1,
)
@example(
    method="GET",
    path="/api/oauth/connect/klaviyo",
    query="accountName=a%00b",
    auth="token",
    garbage="",
)
@example(
    method="GET",
    path="/api/oauth/connect/klaviyo",
    query="accountName=a%00b",
    auth="session",
    garbage="",
)
@example(method="DELETE", path=f"/api/oauth/accounts/{REAL}", query="", auth="token", garbage="")
@example(
    method="DELETE", path="/api/oauth/accounts/" + "9" * 40, query="", auth="token", garbage=""
)
def test_the_json_api_answers_everything_in_json_and_never_fails(
    organizer, api_setup, method, path, query, auth, garbage
):
    with one_example():
        path = path.replace(REAL, str(api_setup["connection"].pk))
        client = organizer if auth == "session" else Client()
        headers = {
            "token": f"Bearer {api_setup['token']}",
            "unknown token": f"Bearer {garbage}",
            "garbage": garbage,
        }
        extra = {"HTTP_AUTHORIZATION": headers[auth]} if auth in headers else {}
        before = row_counts()

        response = client.generic(method, path, QUERY_STRING=query, **extra)

        assert_no_server_error(response)
        assert response["Content-Type"] == "application/json", response.content[:200]
        if method != "HEAD" and response.status_code >= 400:
            body = response.json()
            assert body["success"] is False
            assert body["error"]
        grew = growth(before, row_counts())
        if response.status_code == 200 and path == "/api/oauth/connect/klaviyo":
            assert grew == {"integrations.OAuthState": 1}
        elif response.status_code == 200 and method == "DELETE":
            assert set(grew) == {"integrations.ConnectionEvent"}
        else:
            assert grew == {}
