"""Secrets never leak: no token, authorization code, PKCE verifier, client secret or
Authorization header in a log record, a page, an admin page or a JSON response."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from accounts import services as accounts_services
from integrations.klaviyo.redaction import REDACTED, RedactSecretsFilter
from integrations.models import ConnectionEvent, EventKind, KlaviyoConnection, OAuthState
from klaviyo_sandbox import testing
from klaviyo_sandbox.models import Installation
from parties.models import Party
from tests.support.connect_flow import consent, path_of
from tests.support.workers import run_queued_tasks

logger = logging.getLogger("tests.security.leaks")


def configured_handlers() -> dict[str, logging.Handler]:
    """The live handlers LOGGING created, by name (pytest adds unnamed ones of its own)."""
    loggers = [logging.getLogger(), logging.getLogger("django"), logging.getLogger("django.server")]
    return {
        handler.get_name(): handler
        for each in loggers
        for handler in each.handlers
        if handler.get_name() in django_settings.LOGGING["handlers"]
    }


@pytest.fixture
def printed() -> Iterator[StringIO]:
    """Everything the configured handlers print, exactly as an operator would read it."""
    stream = io.StringIO()
    handlers = configured_handlers().values()
    previous = [handler.setStream(stream) for handler in handlers]
    yield stream
    for handler, old in zip(handlers, previous, strict=True):
        handler.setStream(old)


# --- The filter ---------------------------------------------------------------------------------


def test_every_configured_handler_scrubs_secrets():
    declared = django_settings.LOGGING["handlers"]
    live = configured_handlers()

    assert set(live) == set(declared)
    for name, config in declared.items():
        assert "redact_secrets" in config.get("filters", []), name
        assert any(isinstance(f, RedactSecretsFilter) for f in live[name].filters), name


@pytest.mark.django_db
def test_the_filter_scrubs_messages_arguments_exceptions_and_extras(
    caplog, printed, make_connection
):
    caplog.set_level(logging.DEBUG)
    access, refresh, code, verifier = "AT-0123456789", "RT-0123456789", "CODE-0123456", "V" * 43
    # Stored tokens pass through the encrypted field, which remembers them for redaction.
    make_connection(access_token="stored-access-token", refresh_token="stored-refresh-token")
    client_secret = django_settings.KLAVIYO_CLIENT_SECRET
    basic = base64.b64encode(f"client:{client_secret}".encode()).decode()
    api_token = "pl_" + "k" * 43

    logger.debug("token response %s", {"access_token": access, "refresh_token": refresh})
    logger.debug('token response body {"access_token": "%s", "expires_in": 3600}', access)
    logger.info(
        "POST /oauth/token grant_type=authorization_code&code=%s&code_verifier=%s", code, verifier
    )
    logger.info("GET /integrations/klaviyo/callback/?code=%s&state=abc", code)
    logger.warning("request headers %r", {"Authorization": f"Bearer {access}", "revision": "x"})
    logger.warning("Authorization: Basic %s", basic)
    logger.error("the client secret is %s", client_secret)
    logger.info("api call with %s", api_token)
    logger.info("a bare stored token: %s", "stored-access-token")
    logger.info("with extras", extra={"url": f"https://example.test/?refresh_token={refresh}"})
    logger.info("%s and %s", "an argument too few")  # must not break logging
    try:
        raise ValueError(f"Klaviyo rejected stored-refresh-token (code={code})")
    except ValueError:
        logger.exception("refresh failed")
    logging.getLogger("django.server").info(
        '"GET /integrations/klaviyo/callback/?code=%s&state=abc HTTP/1.1" 302 0', code
    )

    secrets = [
        access,
        refresh,
        code,
        verifier,
        client_secret,
        basic,
        api_token,
        "stored-access-token",
        "stored-refresh-token",
    ]
    records = "\n".join(repr(vars(record)) for record in caplog.records)
    for secret in secrets:
        assert secret not in printed.getvalue(), secret
        assert secret not in caplog.text, secret
        assert secret not in records, secret
    assert printed.getvalue().count(REDACTED) >= len(secrets)
    assert "ValueError: Klaviyo rejected [redacted] (code=[redacted])" in printed.getvalue()
    assert "an argument too few" in printed.getvalue()
    assert all(record.args == () and record.exc_info is None for record in caplog.records)


# --- Every flow ---------------------------------------------------------------------------------


class Witness:
    """Collects what the product showed (bodies and redirect targets) and every secret that
    went to or came from Klaviyo (read off the sandbox's recorded calls)."""

    def __init__(self, sandbox_mock) -> None:
        self.sandbox_mock = sandbox_mock
        self.shown: list[str] = []
        self.secrets: set[str] = {django_settings.KLAVIYO_CLIENT_SECRET}

    def see(self, response: HttpResponse) -> HttpResponse:
        assert response.status_code < 500, response.content[:300]
        body = b"".join(response.streaming_content) if response.streaming else response.content
        self.shown.append(body.decode("utf-8", "replace") + response.get("Location", ""))
        return response

    def collect_secrets(self) -> set[str]:
        for call in self.sandbox_mock.calls:
            header = call.request.headers.get("Authorization", "")
            scheme, _, value = header.partition(" ")
            if value:
                self.secrets.add(value)
                if scheme == "Basic":
                    self.secrets.add(base64.b64decode(value).decode().partition(":")[2])
            body = call.request.body or ""
            if isinstance(body, bytes):
                body = body.decode()
            if "application/x-www-form-urlencoded" in call.request.headers.get("Content-Type", ""):
                form = parse_qs(body)
                for name in ("code", "code_verifier", "refresh_token", "token"):
                    self.secrets.update(form.get(name, []))
            response = getattr(call, "response", None)
            if response is not None and urlsplit(call.request.url).path.endswith("/oauth/token"):
                try:
                    answer = json.loads(response.text)
                except ValueError:
                    continue
                for name in ("access_token", "refresh_token"):
                    if answer.get(name):
                        self.secrets.add(answer[name])
        return self.secrets


with_sandbox = pytest.mark.django_db(databases=["default", "sandbox"])


@with_sandbox
def test_no_secret_reaches_logs_pages_admin_or_json(
    login, owner, make_user, sandbox, caplog, printed, settings
):
    caplog.set_level(logging.DEBUG)
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0
    witness = Witness(sandbox)
    see = witness.see
    client = login(owner)

    # Connect through the sandbox: connect, consent, callback.
    authorize = see(client.post(reverse("integrations:klaviyo_connect"), {"label": "Main"}))
    callback_url = consent(client, authorize.url)
    see(client.get(path_of(callback_url)))
    acme = KlaviyoConnection.objects.get()

    # The JSON API, with the session and with a personal API token; the token's connect URL
    # leads through the start page to the consent page and back.
    _token, raw_api_token = accounts_services.api_token_create(membership=owner, name="script")
    witness.secrets.add(raw_api_token)
    api = Client(headers={"authorization": f"Bearer {raw_api_token}"})
    see(client.get("/api/oauth/accounts"))
    see(client.get("/api/oauth/connect/klaviyo", {"accountName": "EU"}))
    see(api.get("/api/oauth/accounts"))
    auth_url = see(api.get("/api/oauth/connect/klaviyo", {"accountName": "Bark"})).json()["authUrl"]
    started = see(client.get(path_of(auth_url)))
    testing.advance(3)
    see(client.get(path_of(consent(client, started.url, account=testing.BARK))))
    bark = KlaviyoConnection.objects.exclude(pk=acme.pk).get()

    # Refresh: by command, and after Klaviyo rejects an expired token (401, refresh, retry).
    call_command("klaviyo_refresh", str(acme.pk), stdout=StringIO())
    # API calls: a party (its list is created), a public signup sent to Klaviyo, a reconcile.
    see(
        client.post(
            reverse("parties:party_create"),
            {
                "name": "Howl-o-ween",
                "starts_at": "2031-10-31T19:00",
                "address": "1 Bark Street",
                "city": "Boston",
                "state": "MA",
                "opt_in_process": "single_opt_in",
                "connection": acme.pk,
            },
        )
    )
    run_queued_tasks(include_deferred=True)
    party = Party.objects.get()
    testing.expire_access_tokens(Installation.objects.using("sandbox").get(account_id=testing.ACME))
    signup = {
        "first_name": "Sarah",
        "email": "sarah@example.com",
        "pet_name": "Rex",
        "pet_type": "dog",
        "consent": "on",
    }
    see(Client().post(reverse("parties:signup", args=[party.slug]), signup))
    run_queued_tasks(include_deferred=True)
    see(client.post(reverse("parties:party_reconcile", args=[party.pk])))
    run_queued_tasks(include_deferred=True)
    for page in ("party_detail", "party_reconcile", "attendees_csv"):
        see(client.get(reverse(f"parties:{page}", args=[party.pk])))
    see(client.get(reverse("integrations:settings")))
    see(client.get(reverse("integrations:connection_detail", args=[acme.pk])))

    # The operator's admin pages and actions.
    staff = Client()
    staff.force_login(make_user(is_staff=True, is_superuser=True))
    changelist = reverse("admin:integrations_klaviyoconnection_changelist")
    see(staff.post(changelist, {"action": "refresh_token_now", "_selected_action": [acme.pk]}))
    for url in (
        changelist,
        reverse("admin:integrations_klaviyoconnection_change", args=[acme.pk]),
        reverse("admin:integrations_oauthstate_changelist"),
        reverse("admin:integrations_oauthstate_change", args=[OAuthState.objects.first().pk]),
        reverse("admin:integrations_connectionevent_changelist"),
    ):
        see(staff.get(url))

    # Disconnect: one on the page, one through the API.
    see(client.post(reverse("integrations:klaviyo_disconnect", args=[acme.pk])))
    see(api.delete(f"/api/oauth/accounts/{bark.pk}"))
    see(client.get(reverse("integrations:settings")))

    secrets = witness.collect_secrets()
    # The flow really handled secrets: two codes and verifiers, tokens, a rotation or two.
    # Two code exchanges; refreshes by the command, the admin and after Klaviyo's 401.
    assert testing.call_count("POST", "/oauth/token") >= 5
    assert ConnectionEvent.objects.filter(connection=acme, kind=EventKind.REFRESHED).count() >= 3
    assert testing.call_count("POST", "/oauth/revoke") == 2
    assert len(secrets) >= 12
    records = "\n".join(repr(vars(record)) for record in caplog.records)
    assert caplog.records
    assert printed.getvalue()
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in records
        assert secret not in printed.getvalue()
        for shown in witness.shown:
            assert secret not in shown
