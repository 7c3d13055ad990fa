"""A stored secret no configured key can read: a clear configuration error wherever it is used,
never a 500, and never a call to Klaviyo with it (DESIGN: "A wrong key is a loud error, never
ciphertext sent to Klaviyo")."""

from __future__ import annotations

from io import StringIO

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts import services as accounts_services
from integrations import tasks as integration_tasks
from integrations.fields import OPERATOR_MUST_FIX_KEYS, SecretDecryptionError
from integrations.klaviyo import pkce
from integrations.klaviyo.config import klaviyo_config
from integrations.middleware import SecretKeysProblemMiddleware
from integrations.models import ConnectionStatus, KlaviyoConnection, OAuthState
from parties import tasks
from parties.models import Attendee, ReconciliationStatus, SyncState
from tests import settings as test_settings
from tests.support.workers import run_queued_tasks

pytestmark = pytest.mark.django_db

MUST_FIX = "must fix the server"
NONCE = "n" * 43


@pytest.fixture
def no_klaviyo():
    """Every request to anywhere is recorded and refused: the tests assert there were none."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def lost(settings, owner, make_connection, make_party):
    """A connection, a party with a waiting signup and two connect attempts, all written
    under keys the server no longer has (another deployment's salt)."""
    connection = make_connection(owner.organization)
    party = make_party(
        connection=connection,
        name="Howl-o-ween",
        klaviyo_list_id="LIST1",
        klaviyo_list_name="Howl-o-ween",
    )
    attendee = Attendee.objects.create(
        party=party,
        email="guest@example.com",
        first_name="Sarah",
        consented_at=timezone.now(),
        marketing_consent=True,
        sync_state=SyncState.PENDING,
    )

    def attempt(nonce: str) -> OAuthState:
        return OAuthState.objects.create(
            state=pkce.generate_state(),
            code_verifier=pkce.generate_code_verifier(),
            browser_nonce=nonce,
            user=owner.user,
            organization=owner.organization,
            redirect_uri="http://testserver/integrations/klaviyo/callback/",
            expires_at=timezone.now() + OAuthState.LIFETIME,
        )

    bound, unbound = attempt(NONCE), attempt("")
    settings.SALT_KEY = ["a-salt-this-server-never-had"]
    return {
        "connection": connection,
        "party": party,
        "attendee": attendee,
        "bound": bound,
        "unbound": unbound,
    }


def assert_not_500(response: HttpResponse) -> HttpResponse:
    assert response.status_code < 500 or response.status_code == 503, response.content[:300]
    return response


def test_integrations_pages_explain_it_and_call_nobody(login, owner, lost, no_klaviyo):
    client = login(owner)
    connection = lost["connection"]
    detail = reverse("integrations:connection_detail", args=[connection.pk])
    disconnect = reverse("integrations:klaviyo_disconnect", args=[connection.pk])

    assert assert_not_500(client.get("/settings/integrations/")).status_code == 200
    assert assert_not_500(client.get(detail)).status_code == 200
    assert assert_not_500(client.get(disconnect)).status_code == 200
    left = assert_not_500(client.post(disconnect, follow=True))

    assert MUST_FIX in left.text
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE  # left as it is, tokens kept
    assert len(no_klaviyo.calls) == 0


def test_the_callback_explains_it_and_exchanges_nothing(login, owner, lost, no_klaviyo):
    client = login(owner)
    client.cookies["partyline_oauth_nonce"] = NONCE

    response = client.get(
        "/integrations/klaviyo/callback/", {"state": lost["bound"].state, "code": "some-code"}
    )

    assert response.status_code == 302
    assert response.url.endswith("?error=server_keys")
    assert MUST_FIX in assert_not_500(client.get(response.url)).text
    assert len(no_klaviyo.calls) == 0


def test_the_start_url_explains_it(login, owner, lost, no_klaviyo):
    client = login(owner)

    response = client.get(reverse("integrations:klaviyo_start", args=[lost["unbound"].state]))

    assert response.status_code == 302
    assert response.url.endswith("?error=server_keys")
    assert MUST_FIX in client.get(response.url).text
    assert len(no_klaviyo.calls) == 0


def test_the_json_api_answers_503_in_json(owner, lost, no_klaviyo):
    _token, raw = accounts_services.api_token_create(membership=owner, name="script")
    api = Client(headers={"authorization": f"Bearer {raw}"})

    listed = api.get("/api/oauth/accounts")
    deleted = api.delete(f"/api/oauth/accounts/{lost['connection'].pk}")

    assert listed.status_code == 200
    assert deleted.status_code == 503
    assert deleted["Content-Type"] == "application/json"
    assert deleted.json() == {
        "success": False,
        "error": f"The connection was left as it is. {OPERATOR_MUST_FIX_KEYS}",
    }
    assert len(no_klaviyo.calls) == 0


def test_parties_pause_and_reconcile_fails_saying_the_operator_must_fix_the_keys(
    login, owner, lost, no_klaviyo, settings
):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    client = login(owner)
    party = lost["party"]
    tasks.party_sync_request(party_id=party.pk)

    assert_not_500(client.post(reverse("parties:party_reconcile", args=[party.pk])))
    run_queued_tasks(include_deferred=True)
    reconcile_page = assert_not_500(client.get(reverse("parties:party_reconcile", args=[party.pk])))
    detail_page = assert_not_500(client.get(reverse("parties:party_detail", args=[party.pk])))

    assert party.reconciliations.get().status == ReconciliationStatus.FAILED
    assert "operator must fix the server" in reconcile_page.text  # "...'s encryption keys"
    assert "operator must fix" in detail_page.text
    # Nothing is lost: the signup waits for the keys to be fixed.
    lost["attendee"].refresh_from_db()
    assert lost["attendee"].sync_state == SyncState.PENDING
    assert len(no_klaviyo.calls) == 0


def test_deleting_a_list_retries_later_without_calling_klaviyo(lost, no_klaviyo):
    outcome = tasks.delete_klaviyo_list.call(connection_id=lost["connection"].pk, list_id="LIST1")

    assert outcome == "retrying"
    assert len(no_klaviyo.calls) == 0


def test_deleting_the_organization_keeps_its_revoke_until_the_keys_are_back(
    settings, login, owner, lost, no_klaviyo
):
    """The organization goes at once; its sealed refresh token waits in the queue, unreadable
    and unsent, and is revoked once the operator restores the keys."""
    organization = owner.organization
    client = login(owner)
    url = reverse("accounts:organization_delete", args=[organization.pk])

    response = assert_not_500(client.post(url, {"name": organization.name}))
    run_queued_tasks()

    assert response.status_code == 302
    assert not KlaviyoConnection.objects.exists()
    assert len(no_klaviyo.calls) == 0
    (waiting,) = DBTaskResult.objects.filter(
        task_path=integration_tasks.revoke_installation.module_path, status=TaskResultStatus.READY
    )
    assert waiting.args_kwargs["kwargs"]["attempt"] == 2
    settings.SALT_KEY = test_settings.SALT_KEY  # the operator puts the server's keys back
    no_klaviyo.post(klaviyo_config().revoke_url, status=200)
    run_queued_tasks(include_deferred=True)
    assert [call.request.body for call in no_klaviyo.calls] == [
        "token=refresh-token-1&token_type_hint=refresh_token"
    ]


def test_operators_see_the_error_in_the_admin_and_commands(client, make_user, lost, no_klaviyo):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    connection = lost["connection"]
    changelist = reverse("admin:integrations_klaviyoconnection_changelist")

    pages = [
        client.get(changelist),
        client.get(reverse("admin:integrations_klaviyoconnection_change", args=[connection.pk])),
        client.get(reverse("admin:integrations_oauthstate_changelist")),
        client.get(reverse("admin:integrations_oauthstate_change", args=[lost["bound"].pk])),
    ]
    refreshed, revoked = (
        client.post(
            changelist,
            {"action": action, "_selected_action": [connection.pk]},
            follow=True,
        )
        for action in ("refresh_token_now", "revoke_and_disconnect")
    )

    assert [page.status_code for page in pages] == [200, 200, 200, 200]
    assert MUST_FIX in refreshed.text
    assert MUST_FIX in revoked.text
    assert KlaviyoConnection.objects.get(pk=connection.pk).status == ConnectionStatus.ACTIVE
    with pytest.raises(CommandError, match=MUST_FIX):
        call_command("klaviyo_refresh", str(connection.pk), stdout=StringIO())
    assert len(no_klaviyo.calls) == 0


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/parties/1/", "text/html; charset=utf-8"), ("/api/oauth/accounts", "application/json")],
)
def test_any_other_page_that_meets_one_explains_it_instead_of_a_500(owner, path, content_type):
    request = RequestFactory().get(path)
    request.user = owner.user
    request.organization = owner.organization
    request.membership = owner
    middleware = SecretKeysProblemMiddleware(lambda request: HttpResponse())

    response = middleware.process_exception(request, SecretDecryptionError())

    assert response.status_code == 503
    assert response["Content-Type"] == content_type
    assert MUST_FIX in response.content.decode()
