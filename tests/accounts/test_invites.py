import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import Invite, Membership, Role, User
from accounts.tenancy import SESSION_KEY
from tests.support.accounts import STRONG_PASSWORD


def invite_link_from_outbox() -> str:
    return re.search(r"http://testserver(/invites/\S+/)", mail.outbox[-1].body).group(1)


def send_invite(client, email="new@example.com", role=Role.MEMBER):
    return client.post(reverse("accounts:invite_create"), {"email": email, "role": role})


@pytest.mark.django_db
def test_owner_invites_by_email_with_a_single_use_link(login, owner):
    client = login(owner)

    response = send_invite(client, email="New@Example.com", role=Role.ADMIN)

    assert response.status_code == 302
    invite = Invite.objects.get()
    assert invite.email == "new@example.com"
    assert invite.role == Role.ADMIN
    assert invite.sent_at is not None
    assert mail.outbox[0].to == ["new@example.com"]
    token = invite_link_from_outbox().split("/")[2]
    # Only a digest of the token is stored.
    assert token not in invite.token_hash
    assert not Invite.objects.filter(token_hash=token).exists()


@pytest.mark.django_db
def test_member_cannot_invite(login, make_member, owner):
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    response = send_invite(login(member))

    assert response.status_code == 403
    assert not Invite.objects.exists()


@pytest.mark.django_db
def test_admin_cannot_invite_an_owner(login, make_member, owner):
    admin = make_member(role=Role.ADMIN, organization=owner.organization)

    response = send_invite(login(admin), role=Role.OWNER)

    assert response.status_code == 400
    assert not Invite.objects.exists()


@pytest.mark.django_db
def test_inviting_an_existing_member_says_so(login, owner):
    response = send_invite(login(owner), email=owner.user.email)

    assert response.status_code == 400
    assert "already a member" in response.text


@pytest.mark.django_db
def test_new_person_signs_up_through_invite_and_joins_with_role(client, login, owner):
    send_invite(login(owner), email="new@example.com", role=Role.ADMIN)
    link = invite_link_from_outbox()
    token = link.split("/")[2]

    page = client.get(link)
    assert page.status_code == 200
    assert owner.organization.name in page.text

    response = client.post(
        f"/accounts/signup/?invite={token}",
        {"password1": STRONG_PASSWORD, "password2": STRONG_PASSWORD},
    )

    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.organization == owner.organization
    assert membership.role == Role.ADMIN
    assert client.session[SESSION_KEY] == owner.organization_id
    # Joining through an invite creates no extra organization.
    assert user.organizations.count() == 1
    assert Invite.objects.get().accepted_by == user


@pytest.mark.django_db
def test_existing_user_logs_in_then_accepts(client, login, owner, make_member):
    elsewhere = make_member(role=Role.OWNER)
    send_invite(login(owner), email=elsewhere.user.email)
    link = invite_link_from_outbox()

    login(elsewhere, client)
    page = client.get(link)
    assert "Accept and join" in page.text
    response = client.post(link)

    assert response.status_code == 302
    assert Membership.objects.filter(
        user=elsewhere.user, organization=owner.organization, role=Role.MEMBER
    ).exists()
    assert client.session[SESSION_KEY] == owner.organization_id


@pytest.mark.django_db
def test_used_invite_link_says_so(client, login, owner, make_user):
    send_invite(login(owner), email="new@example.com")
    link = invite_link_from_outbox()
    invitee = make_user(email="new@example.com")
    login(invitee, client).post(link)

    response = client.post(link)

    assert response.status_code == 410
    assert "already been used" in response.text
    assert Membership.objects.filter(user=invitee).count() == 1


@pytest.mark.django_db
def test_expired_invite_link_says_so(client, login, owner, make_user):
    send_invite(login(owner), email="new@example.com")
    link = invite_link_from_outbox()
    Invite.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = login(make_user(email="new@example.com"), client).post(link)

    assert response.status_code == 410
    assert "expired" in response.text
    assert not Membership.objects.filter(user__email="new@example.com").exists()


@pytest.mark.django_db
def test_foreign_invite_link_says_so(client, login, owner, make_member):
    send_invite(login(owner), email="invited@example.com")
    link = invite_link_from_outbox()
    stranger = make_member(role=Role.OWNER)

    response = login(stranger, client).post(link)

    assert response.status_code == 403
    assert "sent to a different email address" in response.text
    assert not Membership.objects.filter(
        user=stranger.user, organization=owner.organization
    ).exists()


@pytest.mark.django_db
def test_unknown_invite_link_is_404(client):
    response = client.get("/invites/not-a-real-token/")

    assert response.status_code == 404
    assert "not valid" in response.text


@pytest.mark.django_db
def test_revoked_invite_cannot_be_used(client, login, owner):
    owner_client = login(owner)
    send_invite(owner_client, email="new@example.com")
    link = invite_link_from_outbox()
    invite = Invite.objects.get()

    owner_client.post(reverse("accounts:invite_revoke", args=[invite.pk]))

    response = client.get(link)
    assert response.status_code == 410
    assert "withdrawn" in response.text


@pytest.mark.django_db
def test_signup_through_invite_with_taken_email_is_refused(client, login, owner, make_user):
    send_invite(login(owner), email="new@example.com")
    token = invite_link_from_outbox().split("/")[2]
    make_user(email="new@example.com")

    response = client.post(
        f"/accounts/signup/?invite={token}",
        {"password1": STRONG_PASSWORD, "password2": STRONG_PASSWORD},
    )

    assert response.status_code == 200
    assert "already exists" in response.text
    assert Invite.objects.get().accepted_at is None


@pytest.mark.django_db
def test_invite_accept_service_is_single_use(owner, make_user):
    invite, _token = services.invite_create(
        organization=owner.organization, email="a@example.com", role=Role.MEMBER, invited_by=owner
    )
    user = make_user(email="a@example.com")
    services.invite_accept(invite=invite, user=user)

    with pytest.raises(services.InviteError) as error:
        services.invite_accept(invite=invite, user=user)
    assert error.value.reason == services.InviteError.USED
