"""People are told before things break: a connection turning needs-reconnect emails the
organization's owners and admins once per incident, with a Reconnect link, and once more when
it recovers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from io import StringIO

import pytest
import responses
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import Role
from accounts.tenancy import SESSION_KEY
from integrations import notifications, services, tokens
from integrations.clients import klaviyo_client
from integrations.errors import ConnectionUnusable
from integrations.klaviyo.config import KlaviyoConfig
from integrations.models import ConnectionStatus, EventKind, KlaviyoConnection
from klaviyo_sandbox import testing
from klaviyo_sandbox.models import Installation
from tests.support.connect_flow import connect_through_sandbox, consent, path_of
from tests.support.database import skip_without_connections
from tests.support.workers import run_queued_tasks

CONFIG = KlaviyoConfig(
    client_id="client", client_secret="secret", base_url="https://klaviyo.test", timeout=2
)
TOKEN_URL = "https://klaviyo.test/oauth/token"
SITE_URL = "https://partyline.example.com"


@pytest.fixture
def team(owner, make_member, make_user):
    """An organization with an owner, an admin, a plain member and a deactivated admin, and
    another organization's owner."""
    organization = owner.organization
    return {
        "owner": owner,
        "admin": make_member(role=Role.ADMIN, organization=organization),
        "member": make_member(role=Role.MEMBER, organization=organization),
        "gone": make_member(
            role=Role.ADMIN, organization=organization, user=make_user(is_active=False)
        ),
        "outsider": make_member(role=Role.OWNER),
    }


def notices(kind: str) -> int:
    return DBTaskResult.objects.filter(
        task_path=notifications.send_connection_health_email.module_path,
        args_kwargs__kwargs__kind=kind,
    ).count()


def reconnect_url(connection: KlaviyoConnection) -> str:
    return f"{SITE_URL}{reverse('integrations:klaviyo_reconnect', args=[connection.pk])}"


@pytest.mark.django_db
@responses.activate
def test_a_dead_refresh_token_emails_each_owner_and_admin_once(team, make_connection, settings):
    settings.SITE_URL = SITE_URL
    connection = make_connection(team["owner"].organization, expires_in=-10)
    responses.post(
        TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "revoked"}
    )

    # Failure after failure: every caller is turned away, but it is one incident.
    for _ in range(3):
        with pytest.raises(ConnectionUnusable):
            tokens.get_access_token(connection=connection, config=CONFIG)
    services.connection_mark_needs_reconnect(connection=connection, reason="again")
    run_queued_tasks()
    run_queued_tasks()

    assert len(responses.calls) == 1
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [team["owner"].user.email, team["admin"].user.email]
    )
    assert all(len(message.to) == 1 for message in mail.outbox)
    message = mail.outbox[0]
    assert "reconnect" in message.subject.lower()
    assert connection.display_name in message.subject
    assert reconnect_url(connection) in message.body
    assert "Klaviyo rejected the refresh token" in message.body
    assert connection.events.filter(kind=EventKind.NEEDS_RECONNECT).count() == 1


@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_many_workers_hitting_an_uninstalled_app_at_once_send_one_email(
    sandbox, sandbox_connection, team
):
    """Klaviyo's side revoked the app (uninstalled it) while twenty workers were busy."""
    threads = 20
    skip_without_connections(threads)
    connection = sandbox_connection(team["owner"].organization)
    testing.uninstall(Installation.objects.using("sandbox").get())
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(minutes=1)
    )

    def call_klaviyo(_: int) -> str:
        try:
            klaviyo_client(connection=connection).get_account()
        except ConnectionUnusable:
            return "paused"
        finally:
            for alias in connections:
                connections[alias].close()
        return "called"

    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(pool.map(call_klaviyo, range(threads)))

    assert outcomes == ["paused"] * threads
    assert notices(notifications.NEEDS_RECONNECT) == 1
    run_queued_tasks()
    assert len(mail.outbox) == 2  # the owner and the admin, once each
    assert connection.events.filter(kind=EventKind.NEEDS_RECONNECT).count() == 1


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_reconnecting_sends_one_recovery_email(sandbox, team, login, settings):
    settings.SITE_URL = SITE_URL
    client = login(team["owner"])
    connect_through_sandbox(client)
    connection = KlaviyoConnection.objects.get()
    testing.uninstall(Installation.objects.using("sandbox").get(uninstalled_at__isnull=True))
    with pytest.raises(CommandError, match="needs reconnect"):
        call_command("klaviyo_refresh", str(connection.pk), stdout=StringIO())
    run_queued_tasks()
    assert len(mail.outbox) == 2
    mail.outbox.clear()

    # The emailed link, as the admin follows it: the reconnect page, then Klaviyo's consent.
    admin = login(team["admin"])
    page = admin.get(reconnect_url(connection).removeprefix(SITE_URL))
    assert page.status_code == 200
    authorize_url = admin.post(reverse("integrations:klaviyo_reconnect", args=[connection.pk])).url
    admin.get(path_of(consent(admin, authorize_url)))
    run_queued_tasks()

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [team["owner"].user.email, team["admin"].user.email]
    )
    assert "connected again" in mail.outbox[0].subject
    detail = reverse("integrations:connection_detail", args=[connection.pk])
    assert f"{SITE_URL}{detail}" in mail.outbox[0].body

    # Reconnecting a working connection is no incident and no recovery.
    mail.outbox.clear()
    authorize_url = admin.post(reverse("integrations:klaviyo_reconnect", args=[connection.pk])).url
    admin.get(path_of(consent(admin, authorize_url)))
    run_queued_tasks()
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_notice_is_not_sent_once_the_connection_recovered(team, make_connection):
    connection = make_connection(team["owner"].organization)
    services.connection_mark_needs_reconnect(
        connection=connection, reason="Klaviyo rejected the token."
    )
    KlaviyoConnection.objects.filter(pk=connection.pk).update(status=ConnectionStatus.ACTIVE)

    run_queued_tasks()

    assert mail.outbox == []


@pytest.mark.django_db
def test_disconnecting_is_not_an_incident(team, make_connection):
    connection = make_connection(team["owner"].organization, refresh_token="")

    services.connection_disconnect(connection=connection, actor=team["owner"].user)
    run_queued_tasks()

    assert mail.outbox == []


# --- The Reconnect link ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_reconnect_link_opens_a_page_with_the_reason_and_a_reconnect_button(
    team, make_connection, login
):
    connection = make_connection(team["owner"].organization)
    services.connection_mark_needs_reconnect(
        connection=connection, reason="Klaviyo rejected the token."
    )
    url = reverse("integrations:klaviyo_reconnect", args=[connection.pk])

    page = login(team["admin"]).get(url)

    assert page.status_code == 200
    assert "Klaviyo rejected the token." in page.text
    assert '<form method="post">' in page.text
    assert "Reconnect</button>" in page.text


@pytest.mark.django_db
def test_the_reconnect_link_switches_to_the_connections_organization(
    team, make_connection, make_member, login
):
    """An admin of several organizations, working in another one, follows the email's link."""
    connection = make_connection(team["owner"].organization)
    elsewhere = make_member(role=Role.OWNER, user=team["admin"].user)
    client = login(elsewhere)

    page = client.get(reverse("integrations:klaviyo_reconnect", args=[connection.pk]))

    assert page.status_code == 200
    assert client.session[SESSION_KEY] == team["owner"].organization_id


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "status"), [("outsider", 404), ("member", 403)])
def test_the_reconnect_page_is_for_the_organizations_managers_only(
    team, make_connection, login, who, status
):
    connection = make_connection(team["owner"].organization)

    page = login(team[who]).get(reverse("integrations:klaviyo_reconnect", args=[connection.pk]))

    assert page.status_code == status
