"""Personal API tokens: shown once, stored hashed, bound to one user and organization."""

import pytest
from django.urls import reverse

from accounts.models import ApiToken, Role


@pytest.mark.django_db
def test_a_new_token_is_shown_once_and_stored_hashed(login, owner):
    client = login(owner)

    response = client.post(reverse("accounts:api_tokens"), {"name": "Zapier"})

    assert response.status_code == 200
    raw = response.context["new_token"]
    assert raw.startswith("pl_")
    assert raw in response.text
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get()
    assert raw not in token.token_hash
    assert token.user == owner.user
    assert token.organization == owner.organization
    assert raw not in client.get(reverse("accounts:api_tokens")).text


@pytest.mark.django_db
def test_a_token_needs_a_name(login, owner):
    response = login(owner).post(reverse("accounts:api_tokens"), {"name": ""})

    assert response.status_code == 400
    assert "Name the token" in response.text
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_revoking_a_token(login, owner):
    client = login(owner)
    client.post(reverse("accounts:api_tokens"), {"name": "old"})
    token = ApiToken.objects.get()

    response = client.post(reverse("accounts:api_token_revoke", args=[token.pk]))

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.django_db
def test_nobody_else_sees_or_revokes_your_token(login, owner, make_member):
    login(owner).post(reverse("accounts:api_tokens"), {"name": "mine"})
    token = ApiToken.objects.get()
    colleague = make_member(role=Role.OWNER, organization=owner.organization)
    client = login(colleague)

    assert "mine" not in client.get(reverse("accounts:api_tokens")).text
    assert client.post(reverse("accounts:api_token_revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
