"""An organization's time zone: validated IANA names, chosen at signup from the browser (or the
select), edited in the organization's settings, and active on its organizers' requests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.urls import path, reverse
from django.utils import timezone

import config.urls
from accounts import services
from accounts.models import Invite, Organization, Role
from accounts.timezones import time_zone_choices, validate_time_zone, zone_for
from tests.support.accounts import SIGNUP_URL, signup_data

pytestmark = pytest.mark.django_db


def test_a_new_organization_is_in_utc(make_org):
    assert make_org().time_zone == "UTC"


@pytest.mark.parametrize("name", ["UTC", "America/Denver", "Europe/Paris", "Asia/Kolkata"])
def test_iana_names_are_valid(name, make_org):
    organization = make_org()
    organization.time_zone = name

    validate_time_zone(name)  # raises ValidationError for a name it refuses
    organization.full_clean()  # and so does the model's field
    assert name in {value for value, _label in time_zone_choices()}
    assert zone_for(name).key == name  # times are shown in it, not in UTC


@pytest.mark.parametrize("name", ["", "Mars/Olympus_Mons", "america/denver", "../etc/passwd"])
def test_other_names_are_not(name):
    with pytest.raises(ValidationError):
        validate_time_zone(name)


def test_the_model_validates_its_zone(make_org):
    organization = make_org()
    organization.time_zone = "Atlantis/Capital"

    with pytest.raises(ValidationError) as error:
        organization.full_clean()

    assert "time_zone" in error.value.message_dict


def test_the_choices_start_with_utc_and_hold_the_common_zones():
    values = [value for value, _label in time_zone_choices()]

    assert values[0] == "UTC"
    assert {"America/Denver", "Europe/Paris", "Australia/Sydney"} <= set(values)
    assert values[1:] == sorted(values[1:])


# --- Signup: the browser's zone, or the one chosen ---------------------------------------------


def test_signup_page_has_the_hidden_browser_zone_the_select_and_the_script(client):
    page = client.get(SIGNUP_URL).text

    assert '<input type="hidden" name="browser_time_zone"' in page
    assert "data-browser-time-zone" in page
    assert '<select name="time_zone"' in page
    assert '<option value="America/Denver">America/Denver</option>' in page
    assert "Automatic: this browser" in page
    assert '<script src="/static/js/time-zone.js" defer></script>' in page


def test_signup_takes_the_browsers_zone(client):
    client.post(SIGNUP_URL, signup_data(browser_time_zone="America/Denver", time_zone=""))

    assert Organization.objects.get().time_zone == "America/Denver"


def test_a_zone_chosen_in_the_select_wins_over_the_browsers(client):
    client.post(
        SIGNUP_URL, signup_data(browser_time_zone="America/Denver", time_zone="Europe/Paris")
    )

    assert Organization.objects.get().time_zone == "Europe/Paris"


@pytest.mark.parametrize("browser", ["", "Not/AZone", "x" * 500])
def test_without_a_usable_browser_zone_signup_uses_utc(client, browser):
    response = client.post(SIGNUP_URL, signup_data(browser_time_zone=browser))

    assert response.status_code == 302
    assert Organization.objects.get().time_zone == "UTC"


def test_an_unknown_zone_in_the_select_is_an_error_next_to_it(client):
    response = client.post(SIGNUP_URL, signup_data(time_zone="Not/AZone"))

    assert response.status_code == 200
    assert "Choose a time zone from the list." in response.text
    assert not Organization.objects.exists()


def test_a_new_organization_takes_the_browsers_zone_too(login, owner):
    client = login(owner)

    client.post(
        reverse("accounts:organization_create"),
        {"name": "Second shop", "browser_time_zone": "Asia/Tokyo"},
    )

    assert Organization.objects.get(name="Second shop").time_zone == "Asia/Tokyo"


def test_the_script_reads_the_browsers_zone_with_intl():
    from django.contrib.staticfiles import finders

    script = Path(finders.find("js/time-zone.js")).read_text()

    assert "Intl.DateTimeFormat().resolvedOptions().timeZone" in script
    assert "data-browser-time-zone" in script


# --- Organization settings ------------------------------------------------------------------


def test_an_owner_changes_the_zone_in_the_organization_settings(login, owner):
    client = login(owner)
    url = reverse("accounts:organization_settings")

    page = client.get(url)
    assert page.status_code == 200
    assert '<option value="UTC" selected>UTC</option>' in page.text

    response = client.post(url, {"name": "Happy Paws", "time_zone": "America/Denver"})

    assert response.status_code == 302
    owner.organization.refresh_from_db()
    assert owner.organization.time_zone == "America/Denver"
    assert owner.organization.name == "Happy Paws"
    assert '<option value="America/Denver" selected>' in client.get(url).text


def test_an_unknown_zone_is_refused_in_the_settings(login, owner):
    response = login(owner).post(
        reverse("accounts:organization_settings"), {"name": "Happy Paws", "time_zone": "Nowhere"}
    )

    assert response.status_code == 400
    assert "Choose a time zone from the list." in response.text
    owner.organization.refresh_from_db()
    assert owner.organization.time_zone == "UTC"


def test_members_cannot_change_the_settings(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    response = login(member).post(
        reverse("accounts:organization_settings"), {"name": "Mine", "time_zone": "Asia/Tokyo"}
    )

    assert response.status_code == 403
    owner.organization.refresh_from_db()
    assert owner.organization.time_zone == "UTC"


def test_the_service_refuses_a_member_and_an_unknown_zone(owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    organization = owner.organization

    with pytest.raises(services.PermissionDenied):
        services.organization_update(
            organization=organization, actor=member, name="x", time_zone="UTC"
        )
    with pytest.raises(ValidationError):
        services.organization_update(
            organization=organization, actor=owner, name="x", time_zone="Nowhere"
        )


def test_the_account_menu_links_the_settings_for_managers_only(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    url = reverse("accounts:organization_settings")

    assert url in login(owner).get(reverse("accounts:member_list")).text
    assert url not in login(member).get(reverse("accounts:member_list")).text


# --- The zone is active on the organization's requests --------------------------------------


def zone_probe(request):
    return HttpResponse(timezone.get_current_timezone_name())


# The URLconf of the tests marked `urls(__name__)`: the site, plus a page that says which zone
# is active, inside and outside the operator admin.
urlpatterns = [
    path("zone-probe/", zone_probe),
    path("admin/zone-probe/", zone_probe),
    *config.urls.urlpatterns,
]


@pytest.mark.urls(__name__)
def test_an_organizers_request_runs_in_the_organizations_zone(login, owner):
    Organization.objects.filter(pk=owner.organization_id).update(time_zone="America/Denver")

    assert login(owner).get("/zone-probe/").text == "America/Denver"
    # ...and not beyond it: the zone is reset after the request.
    assert timezone.get_current_timezone_name() == "UTC"


@pytest.mark.urls(__name__)
def test_visitors_and_the_operator_admin_stay_in_utc(client, login, owner):
    Organization.objects.filter(pk=owner.organization_id).update(time_zone="Asia/Tokyo")

    assert client.get("/zone-probe/").text == "UTC"
    assert login(owner).get("/admin/zone-probe/").text == "UTC"


@pytest.mark.urls(__name__)
def test_a_zone_this_machine_does_not_know_falls_back_to_utc(login, owner):
    Organization.objects.filter(pk=owner.organization_id).update(time_zone="Gone/Away")

    assert login(owner).get("/zone-probe/").text == "UTC"


def test_pages_show_times_in_the_organizations_zone(login, owner):
    Organization.objects.filter(pk=owner.organization_id).update(time_zone="America/Denver")
    invite, _token = services.invite_create(
        organization=owner.organization, email="new@example.com", role=Role.MEMBER, invited_by=owner
    )
    Invite.objects.filter(pk=invite.pk).update(expires_at=datetime(2030, 1, 15, 12, 0, tzinfo=UTC))

    page = login(owner).get(reverse("accounts:member_list"))

    assert "15 Jan 2030, 05:00" in page.text  # 12:00 UTC is 05:00 in Denver (MST)
