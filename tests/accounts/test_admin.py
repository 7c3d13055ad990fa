import pytest
from django.urls import reverse

from accounts.models import Invite, Role


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["user", "organization", "membership", "invite"])
def test_operators_see_accounts_models_in_admin(staff_client, owner, model):
    response = staff_client.get(reverse(f"admin:accounts_{model}_changelist"))

    assert response.status_code == 200


@pytest.mark.django_db
def test_admin_never_shows_an_invite_token_digest(staff_client, owner):
    invite = Invite.objects.create(
        organization=owner.organization,
        email="x@example.com",
        role=Role.MEMBER,
        token_hash="f" * 64,
        expires_at="2999-01-01T00:00:00Z",
    )

    response = staff_client.get(reverse("admin:accounts_invite_change", args=[invite.pk]))

    assert response.status_code == 200
    assert "f" * 64 not in response.text


@pytest.mark.django_db
def test_non_staff_cannot_reach_admin(login, owner):
    response = login(owner).get(reverse("admin:index"))

    assert response.status_code == 302
    assert "/admin/login/" in response.url
