"""An owner deletes their organization: the confirmation names what goes, the typed name
confirms, everything of the organization goes in one transaction, and its Klaviyo
installations are revoked by a worker, never in the owner's request."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts import services
from accounts.models import Membership, Organization, Role, User
from accounts.tenancy import SESSION_KEY
from integrations import tasks
from integrations.models import KlaviyoConnection
from klaviyo_sandbox import testing
from klaviyo_sandbox.models import Installation
from tests.support.organization_rows import fill_organization, owned_models, rows_of, still_there
from tests.support.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


def delete_url(organization: Organization) -> str:
    return reverse("accounts:organization_delete", args=[organization.pk])


def revokes_queued() -> list[DBTaskResult]:
    return list(
        DBTaskResult.objects.filter(
            task_path=tasks.revoke_installation.module_path, status=TaskResultStatus.READY
        )
    )


def installation_live(account: str = testing.ACME) -> bool:
    return (
        Installation.objects.using("sandbox")
        .filter(account_id=account, uninstalled_at__isnull=True)
        .exists()
    )


@pytest.fixture
def filled(owner, sandbox, sandbox_connection, make_member):
    """The owner's organization with a row of every kind, its connection live in the sandbox."""
    connection = sandbox_connection(owner.organization)
    fill_organization(owner, connection, make_member)
    DBTaskResult.objects.all().delete()  # the party's own work: not what these tests look at
    return connection


# --- The confirmation page ---------------------------------------------------------------------


def test_the_settings_page_links_owners_to_the_deletion(login, owner, make_member):
    admin = make_member(role=Role.ADMIN, organization=owner.organization)
    settings_url = reverse("accounts:organization_settings")

    assert delete_url(owner.organization) in login(owner).get(settings_url).text
    assert "Delete this organization" not in login(admin).get(settings_url).text


def test_the_confirmation_names_what_goes_with_counts(login, owner, filled, make_member):
    make_member(role=Role.ADMIN, organization=owner.organization)

    page = login(owner).get(delete_url(owner.organization))

    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert f"Delete {owner.organization.name}?" in text
    assert "1 party</strong> and its <strong>2 attendees</strong>" in text
    assert "all the personal data attendees gave" in text
    assert "1 Klaviyo connection</strong>, disconnected" in text
    assert "Partyline's access is revoked at Klaviyo" in text
    assert "lists, profiles and events stay in Klaviyo" in text
    assert "1 pending invite</strong>" in text
    assert "1 API token</strong>" in text
    assert "3 members</strong> (you included) are detached" in text
    assert "Their own accounts stay, and keep their other organizations" in text
    assert 'for="id_name"' in page.text  # the confirmation field is labelled


def test_a_wrong_name_is_a_field_error_and_deletes_nothing(login, owner, filled):
    rows = rows_of(owner.organization_id)

    response = login(owner).post(delete_url(owner.organization), {"name": "Something else"})

    assert response.status_code == 400
    assert "That is not the organization" in response.text
    assert 'class="message message-error" role="alert"' in response.text
    assert rows_of(owner.organization_id) == rows
    assert not revokes_queued()


def test_the_name_must_match_exactly(login, owner):
    response = login(owner).post(
        delete_url(owner.organization), {"name": owner.organization.name.upper()}
    )

    assert response.status_code == 400
    assert Organization.objects.filter(pk=owner.organization_id).exists()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_only_owners_may_delete(login, owner, make_member, role):
    other = make_member(role=role, organization=owner.organization)
    client = login(other)
    name = owner.organization.name

    assert client.get(delete_url(owner.organization)).status_code == 403
    assert client.post(delete_url(owner.organization), {"name": name}).status_code == 403
    assert Organization.objects.filter(pk=owner.organization_id).exists()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_the_service_refuses_anyone_but_an_owner(owner, make_member, role):
    other = make_member(role=role, organization=owner.organization)

    with pytest.raises(PermissionDenied):
        services.organization_delete(organization=owner.organization, actor=other)

    assert Organization.objects.filter(pk=owner.organization_id).exists()


def test_another_organizations_deletion_is_a_404(login, owner, make_member):
    stranger = make_member(role=Role.OWNER)
    client = login(owner)
    target = stranger.organization

    assert client.get(delete_url(target)).status_code == 404
    assert client.post(delete_url(target), {"name": target.name}).status_code == 404
    assert Organization.objects.filter(pk=target.pk).exists()


def test_deleting_needs_the_csrf_token(login, owner):
    client = login(owner, Client(enforce_csrf_checks=True))

    response = client.post(delete_url(owner.organization), {"name": owner.organization.name})

    assert response.status_code == 403
    assert Organization.objects.filter(pk=owner.organization_id).exists()


# --- Deleting ----------------------------------------------------------------------------------


def test_no_row_of_the_organization_remains(login, owner, filled):
    rows = rows_of(owner.organization_id)
    empty = sorted(label for label, pks in rows.items() if not pks)
    assert not empty, f"fill_organization makes no row of {empty}: the check would miss them"

    response = login(owner).post(delete_url(owner.organization), {"name": owner.organization.name})

    assert response.status_code == 302
    assert response.url == reverse("accounts:organization_deleted")
    assert still_there(rows) == {}
    assert set(rows) >= {"parties.Attendee", "parties.PartyEvent", "integrations.OAuthState"}


def test_members_are_detached_and_keep_their_accounts(login, owner, filled, make_member):
    colleague = Membership.objects.exclude(pk=owner.pk).get(organization=owner.organization)
    elsewhere = make_member(role=Role.MEMBER, user=colleague.user)

    login(owner).post(delete_url(owner.organization), {"name": owner.organization.name})

    assert User.objects.filter(pk__in=[owner.user_id, colleague.user_id]).count() == 2
    assert Membership.objects.filter(user=colleague.user).get() == elsewhere


def test_the_revoke_is_queued_not_sent_and_holds_no_token_in_plain_text(login, owner, filled):
    refresh_token = KlaviyoConnection.objects.get(pk=filled.pk).refresh_token

    login(owner).post(delete_url(owner.organization), {"name": owner.organization.name})

    assert testing.call_count("POST", "/oauth/revoke") == 0  # not in the owner's request
    (queued,) = revokes_queued()
    kwargs = queued.args_kwargs["kwargs"]
    assert kwargs["connection_id"] == filled.pk
    assert kwargs["organization_id"] == owner.organization_id
    assert refresh_token not in json.dumps(queued.args_kwargs)
    assert installation_live()


def test_the_worker_revokes_the_installation_at_klaviyo(login, owner, filled):
    login(owner).post(delete_url(owner.organization), {"name": owner.organization.name})

    run_queued_tasks()

    assert testing.call_count("POST", "/oauth/revoke") == 1
    assert not installation_live()
    assert DBTaskResult.objects.get(
        task_path=tasks.revoke_installation.module_path
    ).return_value == ("revoked")


def test_a_revoke_klaviyo_cannot_take_now_is_tried_again(login, owner, filled):
    login(owner).post(delete_url(owner.organization), {"name": owner.organization.name})
    testing.start_outage(60)

    run_queued_tasks()

    (retry,) = revokes_queued()
    assert retry.args_kwargs["kwargs"]["attempt"] == 2
    assert installation_live()
    testing.advance(61)
    run_queued_tasks(include_deferred=True)
    assert not installation_live()


def test_an_account_another_organization_uses_is_not_revoked(
    login, owner, filled, make_member, sandbox_connection
):
    neighbour = make_member(role=Role.OWNER)
    theirs = sandbox_connection(neighbour.organization)  # the same Klaviyo account, installed once

    login(owner).post(delete_url(owner.organization), {"name": owner.organization.name})
    run_queued_tasks()

    assert testing.call_count("POST", "/oauth/revoke") == 0
    assert installation_live()
    assert KlaviyoConnection.objects.get(pk=theirs.pk).refresh_token is not None


def test_work_queued_for_the_organization_runs_out_harmlessly(
    login, owner, sandbox, sandbox_connection, make_member
):
    fill_organization(owner, sandbox_connection(owner.organization), make_member)
    queued = set(
        DBTaskResult.objects.filter(status=TaskResultStatus.READY).values_list(
            "task_path", flat=True
        )
    )
    assert {
        "parties.tasks.sync_party",
        "parties.tasks.send_events",
        "parties.tasks.fire_moment",
    } <= queued

    login(owner).post(delete_url(owner.organization), {"name": owner.organization.name})
    DBTaskResult.objects.update(run_after=timezone.now())  # the reminders' time has come too
    run_queued_tasks(include_deferred=True)

    assert not DBTaskResult.objects.filter(status=TaskResultStatus.FAILED).exists()
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.READY).exists()


def test_the_log_names_the_organization_and_counts_never_an_attendee(login, owner, filled, caplog):
    organization_id = owner.organization_id
    caplog.set_level(logging.DEBUG)

    login(owner).post(delete_url(owner.organization), {"name": owner.organization.name})
    run_queued_tasks()

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"Deleted organization {organization_id}: " in logged
    assert "parties.Attendee 2" in logged
    for personal in ("guest0@example.com", "guest1@example.com", "Zelda", "Rex"):
        assert personal not in logged


# --- Afterwards --------------------------------------------------------------------------------


def test_an_owner_with_another_organization_carries_on_in_it(
    login, owner, filled, make_member, make_connection, make_party, make_attendee
):
    other = make_member(role=Role.MEMBER, user=owner.user)
    make_attendee(make_party(other.organization, connection=make_connection(other.organization)))
    kept = rows_of(other.organization_id)
    client = login(owner)

    response = client.post(delete_url(owner.organization), {"name": owner.organization.name})
    page = client.get(response.url)

    text = " ".join(page.text.split())
    assert f"{owner.organization.name} is deleted" in text
    assert f"You are now working in <strong>{other.organization.name}</strong>" in text
    assert client.session[SESSION_KEY] == other.organization_id
    assert rows_of(other.organization_id) == kept
    assert client.get(reverse("home")).status_code == 200


def test_an_owner_without_another_organization_is_asked_to_create_one(login, owner):
    client = login(owner)

    response = client.post(delete_url(owner.organization), {"name": owner.organization.name})
    page = client.get(response.url)

    assert "You have no organization now" in page.text
    assert reverse("accounts:organization_create") in page.text
    assert client.get(reverse("home")).url == reverse("accounts:organization_create")


def test_the_done_page_says_nothing_when_nothing_was_deleted(login, owner):
    response = login(owner).get(reverse("accounts:organization_deleted"))

    assert response.status_code == 302
    assert Organization.objects.filter(pk=owner.organization_id).exists()


def test_every_organization_model_is_checked():
    """The row check finds the organization's models by their foreign keys."""
    labels = {model._meta.label for model in owned_models()}

    assert labels >= {
        "accounts.Membership",
        "accounts.Invite",
        "accounts.ApiToken",
        "integrations.KlaviyoConnection",
        "integrations.ConnectionEvent",
        "parties.Party",
        "parties.Attendee",
        "parties.PartyMoment",
        "parties.EventSender",
    }


def test_an_empty_confirmation_is_a_field_error(login, owner):
    response = login(owner).post(delete_url(owner.organization))

    assert response.status_code == 400
    assert "<li>Type the organization&#x27;s name to confirm.</li>" in response.text
    assert Organization.objects.filter(pk=owner.organization_id).exists()
