"""A person deletes their own account: confirmed with their password, refused while an
organization with other members would be left without an owner, and taking with it the
organizations they are alone in."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from accounts import services
from accounts.models import ApiToken, Invite, Membership, Organization, Role, User
from integrations import tasks
from tests.support.accounts import PASSWORD
from tests.support.organization_rows import fill_organization, rows_of, still_there
from tests.support.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])
DELETE_URL = "/accounts/delete/"


def test_the_account_menu_offers_deleting_the_account(login, owner):
    page = login(owner).get(reverse("home"))

    assert f'<a href="{DELETE_URL}">Delete account</a>' in page.text


def test_the_confirmation_lists_what_goes_and_what_carries_on(
    login, owner, make_member, make_connection, make_party, make_attendee
):
    make_attendee(make_party(owner.organization, connection=make_connection(owner.organization)))
    shared = make_member(role=Role.MEMBER, user=owner.user)
    make_member(role=Role.OWNER, organization=shared.organization)

    page = login(owner).get(DELETE_URL)

    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "You are the only member of this organization, so it is deleted" in text
    assert (
        f"<strong>{owner.organization.name}</strong>: 1 party with 1 attendee (all the personal "
        "data they gave)"
    ) in text
    assert (
        "and 1 Klaviyo connection, disconnected: Partyline's access is revoked at Klaviyo; the "
        "Klaviyo account and its lists, profiles and events stay in Klaviyo."
    ) in text
    assert "You leave this organization; its other members carry on" in text
    assert f"<strong>{shared.organization.name}</strong>" in text
    assert 'autocomplete="current-password"' in page.text
    assert 'for="id_password"' in page.text


def test_a_wrong_password_is_a_field_error_and_deletes_nothing(login, owner):
    client = login(owner)

    response = client.post(DELETE_URL, {"password": "not it"})

    assert response.status_code == 400
    assert "That is not your password. Nothing was deleted." in response.text
    assert 'class="message message-error" role="alert"' in response.text
    assert User.objects.filter(pk=owner.user_id).exists()
    assert Organization.objects.filter(pk=owner.organization_id).exists()
    assert client.get(reverse("home")).status_code == 200  # still logged in


def test_the_only_owner_of_an_organization_with_members_is_refused(login, owner, make_member):
    make_member(role=Role.ADMIN, organization=owner.organization)
    client = login(owner)

    page = client.get(DELETE_URL)
    refused = client.post(DELETE_URL, {"password": PASSWORD})

    text = " ".join(page.text.split())
    assert "Your account cannot be deleted yet." in text
    assert "You are the only owner of an organization with other members" in text
    assert reverse("accounts:member_list") in page.text
    assert reverse("accounts:organization_delete", args=[owner.organization_id]) in page.text
    assert 'name="password"' not in page.text
    assert refused.status_code == 409
    assert "Your account cannot be deleted yet." in refused.text
    assert User.objects.filter(pk=owner.user_id).exists()
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_the_refusal_offers_to_switch_to_an_organization_that_is_not_current(
    login, owner, make_member
):
    elsewhere = make_member(role=Role.OWNER, user=owner.user)
    make_member(role=Role.MEMBER, organization=elsewhere.organization)

    page = login(owner).get(DELETE_URL)

    assert f'name="organization" value="{elsewhere.organization_id}"' in page.text
    assert f'name="next" value="{reverse("accounts:member_list")}"' in page.text


def test_one_of_several_owners_may_leave_by_deleting_the_account(login, owner, make_member):
    co_owner = make_member(role=Role.OWNER, organization=owner.organization)

    response = login(owner).post(DELETE_URL, {"password": PASSWORD})

    assert response.status_code == 302
    assert not User.objects.filter(pk=owner.user_id).exists()
    assert Organization.objects.filter(pk=owner.organization_id).exists()
    assert list(Membership.objects.filter(organization=owner.organization)) == [co_owner]


def test_deleting_the_account(login, owner, make_member, make_user, sandbox, sandbox_connection):
    """Its memberships, API tokens and pending invites go, the organization it was alone in
    goes whole (its Klaviyo installation revoked by the worker), and the session ends."""
    alone = make_member(role=Role.OWNER, user=owner.user)  # alone in it, and connected
    alone_connection = sandbox_connection(alone.organization)
    alone_rows = rows_of(alone.organization_id)
    shared = owner.organization
    make_member(role=Role.OWNER, organization=shared)
    services.api_token_create(membership=owner, name="Script")
    pending, _token = services.invite_create(
        organization=shared, email="friend@example.com", role=Role.MEMBER, invited_by=owner
    )
    used, _token = services.invite_create(
        organization=shared, email="joined@example.com", role=Role.MEMBER, invited_by=owner
    )
    services.invite_accept(invite=used, user=make_user(email="joined@example.com"))
    client = login(owner)

    response = client.post(DELETE_URL, {"password": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("accounts:account_deleted")
    assert not User.objects.filter(pk=owner.user_id).exists()
    assert not Membership.objects.filter(user_id=owner.user_id).exists()
    assert not ApiToken.objects.filter(user_id=owner.user_id).exists()
    assert not Invite.objects.filter(pk=pending.pk).exists()
    assert Invite.objects.get(pk=used.pk).invited_by is None  # history, without them
    assert Organization.objects.filter(pk=shared.pk).exists()
    assert still_there(alone_rows) == {}
    revoke = DBTaskResult.objects.get(task_path=tasks.revoke_installation.module_path)
    assert revoke.args_kwargs["kwargs"]["connection_id"] == alone_connection.pk
    assert AUTH_SESSION_KEY not in client.session  # the session ended, not just lost its user
    assert client.get(reverse("home")).url.startswith(reverse("accounts:login"))
    run_queued_tasks()
    assert DBTaskResult.objects.get(pk=revoke.pk).return_value == "revoked"


def test_an_organization_alone_in_goes_whole(
    login, owner, make_member, sandbox, sandbox_connection
):
    fill_organization(owner, sandbox_connection(owner.organization), make_member)
    Membership.objects.filter(organization=owner.organization).exclude(pk=owner.pk).delete()
    rows = rows_of(owner.organization_id)

    login(owner).post(DELETE_URL, {"password": PASSWORD})

    assert still_there(rows) == {}


def test_the_goodbye_page_is_public():
    page = Client().get(reverse("accounts:account_deleted"))

    assert page.status_code == 200
    assert "Your account is deleted" in page.text


def test_deleting_the_account_needs_the_csrf_token(login, owner):
    client = login(owner, Client(enforce_csrf_checks=True))

    response = client.post(DELETE_URL, {"password": PASSWORD})

    assert response.status_code == 403
    assert User.objects.filter(pk=owner.user_id).exists()


def test_deleting_the_account_needs_a_login():
    response = Client().get(DELETE_URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
