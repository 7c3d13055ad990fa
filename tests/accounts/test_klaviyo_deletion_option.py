"""The organization's Klaviyo deletion option, on its settings page: whether erasing a person
also asks Klaviyo to delete their profile from the whole Klaviyo account. Off by default;
only owners turn it on or off (admins see it read-only), and turning it on tells the owner
which Klaviyo connections to reconnect to grant `data-privacy:write`."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from accounts import services
from accounts.models import Role
from integrations.klaviyo.config import DATA_PRIVACY_SCOPES, DEFAULT_SCOPES
from tests.support.connect_flow import start_connect

pytestmark = pytest.mark.django_db

URL = reverse("accounts:organization_settings")
INTEGRATIONS = reverse("integrations:settings")
FIELD = "klaviyo_deletion_enabled"


def settings_form(**changes: str) -> dict[str, str]:
    return {"name": "Happy Paws", "time_zone": "UTC", "reminder_hours": "24, 2", **changes}


def turned_on() -> dict[str, str]:
    return settings_form(**{FIELD: "on"})


def is_on(membership) -> bool:
    membership.organization.refresh_from_db()
    return membership.organization.klaviyo_deletion_enabled


@pytest.fixture
def admin(owner, make_member):
    return make_member(role=Role.ADMIN, organization=owner.organization)


def test_it_is_off_by_default_and_warns_it_deletes_from_the_whole_klaviyo_account(login, owner):
    page = login(owner).get(URL).text

    assert is_on(owner) is False
    assert "Also ask Klaviyo to delete an erased person&#x27;s profile" in page
    assert "from your whole Klaviyo account: every list, every event and every flow history" in page
    assert "not only Partyline&#x27;s" in page
    assert "reconnecting Klaviyo to grant Partyline the data-privacy:write permission" in page
    assert f'name="{FIELD}"' in page
    assert "Only owners change it." not in page


def test_an_owner_turns_it_on_then_off(login, owner):
    client = login(owner)

    assert client.post(URL, turned_on()).status_code == 302
    assert is_on(owner) is True
    assert "checked" in client.get(URL).text.split(f'name="{FIELD}"')[1].split(">")[0]

    # An unticked box is not posted: off.
    assert client.post(URL, settings_form()).status_code == 302
    assert is_on(owner) is False


def test_an_admin_sees_it_read_only_and_that_only_owners_change_it(login, admin):
    page = login(admin).get(URL).text

    checkbox = page.split(f'name="{FIELD}"')[1].split(">")[0]
    assert "disabled" in checkbox
    assert "Only owners change it." in page


def test_an_admin_cannot_turn_it_on_but_still_saves_the_rest(login, admin):
    response = login(admin).post(URL, {**turned_on(), "name": "Renamed"})

    assert response.status_code == 302
    assert is_on(admin) is False
    assert admin.organization.name == "Renamed"


def test_an_admin_cannot_turn_it_off(login, owner, admin):
    login(owner).post(URL, turned_on())

    login(admin).post(URL, settings_form())

    assert is_on(owner) is True


@pytest.mark.parametrize("value", [True, False])
def test_the_service_lets_only_an_owner_change_it(owner, admin, value):
    owner.organization.klaviyo_deletion_enabled = not value
    owner.organization.save()
    change = {"name": "Happy Paws", "time_zone": "UTC", "klaviyo_deletion_enabled": value}

    with pytest.raises(PermissionDenied, match="Only owners"):
        services.organization_update(organization=owner.organization, actor=admin, **change)
    assert is_on(owner) is not value

    services.organization_update(organization=owner.organization, actor=owner, **change)
    assert is_on(owner) is value


def test_an_admin_saving_it_unchanged_is_no_change(owner, admin):
    services.organization_update(
        organization=owner.organization,
        actor=admin,
        name="Renamed",
        time_zone="UTC",
        klaviyo_deletion_enabled=False,
    )

    assert owner.organization.name == "Renamed"


def test_turning_it_on_says_which_connections_to_reconnect(login, owner, make_connection):
    lacking = make_connection(owner.organization)
    granted = make_connection(owner.organization, scopes=DEFAULT_SCOPES + DATA_PRIVACY_SCOPES)
    client = login(owner)

    response = client.post(URL, turned_on(), follow=True)

    [message] = [str(message) for message in response.context["messages"]]
    assert message.startswith("Saved the organization's settings. For erasure to ask Klaviyo")
    assert f"reconnect {lacking.display_name} on the" in message
    assert granted.display_name not in message
    assert f'<a href="{INTEGRATIONS}">Integrations page</a>' in response.text
    assert "to grant Partyline data-privacy:write." in message


@pytest.mark.parametrize("already_on", [False, True])
def test_no_reconnect_is_asked_when_none_is_needed(login, owner, make_connection, already_on):
    """Every connection granted it, or the option was on already (nothing was turned on)."""
    if already_on:
        make_connection(owner.organization)
        owner.organization.klaviyo_deletion_enabled = True
        owner.organization.save()
    else:
        make_connection(owner.organization, scopes=DEFAULT_SCOPES + DATA_PRIVACY_SCOPES)

    response = login(owner).post(URL, turned_on(), follow=True)

    assert [str(m) for m in response.context["messages"]] == ["Saved the organization's settings."]


def test_once_an_owner_turns_it_on_connecting_asks_klaviyo_for_data_privacy_write(login, owner):
    client = login(owner)
    before = parse_qs(urlsplit(start_connect(client)).query)["scope"][0].split()

    client.post(URL, turned_on())
    after = parse_qs(urlsplit(start_connect(client)).query)["scope"][0].split()

    assert "data-privacy:write" not in before
    assert after == [*before, "data-privacy:write"]
