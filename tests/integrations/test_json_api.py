"""The JSON API: session or personal-token auth, JSON errors, tenant isolation."""

from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.test import Client

from accounts import services as accounts_services
from accounts.models import Role
from integrations.models import ConnectionStatus, OAuthState

REVOKE_URL = "https://klaviyo.test/oauth/revoke"


@pytest.fixture(autouse=True)
def klaviyo_at_test_host(settings):
    settings.KLAVIYO_BASE_URL = "https://klaviyo.test"
    settings.KLAVIYO_AUTHORIZE_URL = "https://klaviyo.test/oauth/authorize"


def bearer(membership) -> Client:
    _token, raw = accounts_services.api_token_create(membership=membership, name="script")
    return Client(headers={"authorization": f"Bearer {raw}"})


@pytest.mark.django_db
def test_accounts_lists_connections_in_the_seed_shape(login, owner, make_connection):
    connection = make_connection(owner.organization, label="Main store")
    make_connection()  # another organization's

    response = login(owner).get("/api/oauth/accounts")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "success": True,
        "accounts": [
            {
                "id": connection.pk,
                "platform": "klaviyo",
                "accountName": "Main store",
                "klaviyoAccountId": connection.klaviyo_account_id,
                "klaviyoOrganization": connection.klaviyo_organization_name,
                "status": "active",
                "connectedAt": connection.connected_at.isoformat(),
            }
        ],
    }
    assert "token" not in response.text.lower()


@pytest.mark.django_db
def test_connect_returns_an_authorize_url_with_pkce(login, owner):
    response = login(owner).get("/api/oauth/connect/klaviyo", {"accountName": "EU store"})

    assert response.status_code == 200
    url = urlparse(response.json()["authUrl"])
    query = parse_qs(url.query)
    assert url.netloc == "klaviyo.test"
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["http://testserver/integrations/klaviyo/callback/"]
    attempt = OAuthState.objects.get(state=query["state"][0])
    assert attempt.label == "EU store"
    assert attempt.browser_nonce


@pytest.mark.django_db
def test_connect_with_a_bearer_token_leads_through_partyline_to_bind_the_browser(owner, login):
    response = bearer(owner).get("/api/oauth/connect/klaviyo")

    auth_url = response.json()["authUrl"]
    assert auth_url.startswith("http://testserver/integrations/klaviyo/start/")
    attempt = OAuthState.objects.get()
    assert attempt.browser_nonce == ""

    browser = login(owner)
    bounce = browser.get(urlparse(auth_url).path)
    assert bounce.status_code == 302
    assert bounce.url.startswith("https://klaviyo.test/oauth/authorize?")
    attempt.refresh_from_db()
    assert attempt.browser_nonce
    # Binding happens once: another browser cannot take the attempt over.
    assert login(owner, Client()).get(urlparse(auth_url).path).status_code == 302
    attempt.refresh_from_db()
    assert attempt.browser_nonce == browser.cookies["partyline_oauth_nonce"].value


@pytest.mark.django_db
@responses.activate
def test_delete_disconnects_with_bearer_token(owner, make_connection):
    connection = make_connection(owner.organization)
    responses.post(REVOKE_URL, status=200, json={})

    response = bearer(owner).delete(f"/api/oauth/accounts/{connection.pk}")

    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.json()["message"]
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REVOKED
    assert connection.access_token is None
    assert connection.refresh_token is None


@pytest.mark.django_db
def test_delete_with_session_requires_csrf(owner, make_connection):
    connection = make_connection(owner.organization)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)

    response = client.delete(f"/api/oauth/accounts/{connection.pk}")

    assert response.status_code == 403
    assert response.json()["success"] is False
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/oauth/accounts"),
        ("get", "/api/oauth/connect/klaviyo"),
        ("delete", "/api/oauth/accounts/1"),
    ],
)
def test_unauthenticated_calls_get_json_401(client, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_unknown_or_revoked_bearer_token_is_401(owner):
    token, raw = accounts_services.api_token_create(membership=owner, name="old")
    accounts_services.api_token_revoke(token=token)

    assert (
        Client(headers={"authorization": f"Bearer {raw}"}).get("/api/oauth/accounts").status_code
        == 401
    )
    assert (
        Client(headers={"authorization": "Bearer nope"}).get("/api/oauth/accounts").status_code
        == 401
    )
    assert (
        Client(headers={"authorization": "Basic abc"}).get("/api/oauth/accounts").status_code == 401
    )


@pytest.mark.django_db
def test_token_stops_working_when_its_user_leaves_the_organization(owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    client = bearer(member)
    member.delete()

    assert client.get("/api/oauth/accounts").status_code == 401


@pytest.mark.django_db
def test_member_cannot_connect_or_delete(make_member, owner, make_connection):
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    connection = make_connection(owner.organization)
    client = bearer(member)

    assert client.get("/api/oauth/connect/klaviyo").status_code == 403
    assert client.delete(f"/api/oauth/accounts/{connection.pk}").status_code == 403
    assert client.get("/api/oauth/accounts").status_code == 200


@pytest.mark.django_db
def test_another_organizations_connection_is_404(owner, make_connection):
    foreign = make_connection()

    response = bearer(owner).delete(f"/api/oauth/accounts/{foreign.pk}")

    assert response.status_code == 404
    assert response.json() == {"success": False, "error": "Not found."}
    foreign.refresh_from_db()
    assert foreign.status == ConnectionStatus.ACTIVE


@pytest.mark.django_db
def test_wrong_method_is_json_405(owner):
    response = bearer(owner).post("/api/oauth/accounts")

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json()["success"] is False


@pytest.mark.django_db
def test_too_long_account_name_is_json_400(owner):
    response = bearer(owner).get("/api/oauth/connect/klaviyo", {"accountName": "x" * 10_000})

    assert response.status_code == 400
    assert "accountName" in response.json()["error"]


@pytest.mark.django_db
def test_unknown_api_path_is_json_404(owner):
    response = bearer(owner).get("/api/oauth/nothing-here")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
