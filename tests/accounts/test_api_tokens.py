"""Personal API tokens: shown once, stored hashed, bound to one user and organization."""

import pytest
from django.urls import reverse

from accounts import services
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


@pytest.mark.django_db
def test_the_page_documents_the_api_with_a_curl_example_for_this_server(login, owner, settings):
    settings.ALLOWED_HOSTS = ["partyline.example.com"]

    page = login(owner).get(reverse("accounts:api_tokens"), HTTP_HOST="partyline.example.com")

    assert page.status_code == 200
    assert (
        'curl -H "Authorization: Bearer pl_..." http://partyline.example.com/api/oauth/accounts'
        in page.text
    )
    for request in (
        "GET /api/oauth/accounts",
        "GET /api/oauth/connect/klaviyo?accountName=",
        "DELETE /api/oauth/accounts/&lt;id&gt;",
    ):
        assert request in page.text
    assert "120 requests a minute" in page.text


@pytest.mark.django_db
def test_the_curl_example_works_against_the_api(login, owner, client):
    _token, raw = services.api_token_create(membership=owner, name="docs")

    response = client.get("/api/oauth/accounts", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 200
    assert response.json() == {"success": True, "accounts": []}


@pytest.mark.parametrize(
    ("rate", "words"),
    [
        ("120/m", "120 requests a minute"),
        ("10/h", "10 requests an hour"),
        ("1/s", "1 request a second"),
        ("5000/d", "5000 requests a day"),
        ("5/15m", "5 requests per 15 minutes"),
        ("30/1m", "30 requests a minute"),
    ],
)
def test_the_rate_limit_in_words(rate, words):
    from accounts.views import _rate_text

    assert _rate_text(rate) == words
