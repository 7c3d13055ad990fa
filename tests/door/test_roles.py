"""Door staff: invited like anyone, they see only the door's pages (their parties' check-in)
and their own account; every other page of the organization refuses them with 403, whatever
decorator guards it. Owners, admins and members use the door too."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts import services as account_services
from accounts.models import Invite, Membership, Role
from parties.models import Question, Reconciliation
from tests.support.door import door_url
from tests.support.signups import signup

# Pages anyone logged in may open whatever their role: their own account, a new organization,
# leaving; and the OAuth legs, bound to the user who started them on a manager's page.
OWN_PAGES = {
    "accounts:signup",
    "accounts:login",
    "accounts:logout",
    "accounts:password_change",
    "accounts:password_change_done",
    "accounts:password_reset",
    "accounts:password_reset_done",
    "accounts:password_reset_confirm",
    "accounts:password_reset_complete",
    "accounts:account_delete",
    "accounts:account_deleted",
    "accounts:organization_create",
    "accounts:organization_switch",
    "accounts:organization_deleted",
    "accounts:invite_accept",
    "integrations:klaviyo_callback",
    "integrations:klaviyo_start",
}
# Public pages: a party's signup page, an attendee's own page (their link is the key).
PUBLIC_PREFIXES = ("/p/", "/a/")
PRODUCT_NAMESPACES = ("accounts", "integrations", "parties", "privacy")


def named_urls(patterns=None, namespace=""):
    """(namespace:name, the pattern's converters) of every named URL of the product's apps."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace or ""
            yield from named_urls(pattern.url_patterns, inner.strip(":"))
        elif isinstance(pattern, URLPattern) and pattern.name and namespace in PRODUCT_NAMESPACES:
            yield f"{namespace}:{pattern.name}", pattern.pattern


@pytest.fixture
def rows(owner, party, make_connection):
    attendee = signup(party, email="zoe@example.com", first_name="Zoë")
    connection = party.connection
    return {
        "pk": party.pk,
        "attendee_pk": attendee.pk,
        "question_pk": Question.objects.filter(party=party).first().pk,
        "reconciliation_pk": Reconciliation.objects.create(party=party).pk,
        "connection_pk": connection.pk,
        "slug": party.slug,
        "token": "x" * 20,
        "state": "x" * 20,
        "uidb64": "x",
    }


def url_for(name: str, pattern, rows: dict[str, object]) -> str:
    names = re.findall(r"<(?:\w+:)?(\w+)>", str(pattern))
    kwargs = {key: rows[key] for key in names}
    if name in ("integrations:connection_detail", "integrations:klaviyo_reconnect") or name in (
        "integrations:klaviyo_disconnect",
        "integrations:api_account_delete",
    ):
        kwargs["pk"] = rows["connection_pk"]
    if name == "accounts:organization_delete":
        kwargs["pk"] = rows["organization_pk"]
    return reverse(name, kwargs=kwargs)


def test_every_organization_page_refuses_door_staff(login, door_staff, rows):
    """Walks every named page of the product's apps (a page added later is checked too): for
    door staff each answers 403, but their own account's pages and the public ones."""
    client = login(door_staff)
    rows["organization_pk"] = door_staff.organization_id
    answered = {}
    for name, pattern in named_urls():
        if name in OWN_PAGES:
            continue
        url = url_for(name, pattern, rows)
        if url.startswith(PUBLIC_PREFIXES):
            continue
        # A form's target (or the JSON API's DELETE): the method it takes is what is guarded.
        for method in (client.get, client.post, client.delete):
            response = method(url)
            if response.status_code != 405:
                break
        answered[name] = response.status_code
    assert answered, "no page was tried"
    assert {name: status for name, status in answered.items() if status != 403} == {}


def test_door_staff_are_refused_the_party_page_export_settings_and_tokens(login, door_staff, party):
    client = login(door_staff)
    for url in (
        reverse("parties:party_detail", args=[party.pk]),
        reverse("parties:attendees_csv", args=[party.pk]),
        reverse("parties:party_list"),
        reverse("accounts:organization_settings"),
        reverse("accounts:member_list"),
        reverse("accounts:api_tokens"),
        reverse("integrations:settings"),
        reverse("privacy:person_find"),
        reverse("parties:flows_guide"),
        reverse("integrations:klaviyo_install"),
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"Door staff can use only the check-in pages." in response.content


def test_door_staff_are_refused_the_json_api_even_with_a_token_made_before(
    client, login, owner, make_member
):
    colleague = make_member(role=Role.ADMIN, organization=owner.organization)
    _token, raw = account_services.api_token_create(membership=colleague, name="Scripts")
    Membership.objects.filter(pk=colleague.pk).update(role=Role.DOOR)
    by_token = client.get(reverse("integrations:api_accounts"), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert by_token.status_code == 403
    assert by_token.json()["error"] == "Door staff can use only the check-in pages."
    colleague.refresh_from_db()
    by_session = login(colleague).get(reverse("integrations:api_accounts"))
    assert by_session.status_code == 403


def test_door_staff_open_the_door_pages(login, door_staff, party):
    client = login(door_staff)
    assert client.get(reverse("door:party_list")).status_code == 200
    assert client.get(door_url("door_page", party)).status_code == 200
    assert client.get(door_url("guest_list", party)).status_code == 200
    assert client.get(door_url("guest_search", party), {"q": "zo"}).status_code == 200
    assert client.get(door_url("walk_in", party)).status_code == 200


def test_door_staff_keep_their_own_account_pages(login, door_staff):
    client = login(door_staff)
    assert client.get(reverse("accounts:password_change")).status_code == 200
    assert client.get(reverse("accounts:account_delete")).status_code == 200
    assert client.post(reverse("accounts:logout")).status_code == 302


def test_home_sends_door_staff_to_the_door(login, door_staff):
    response = login(door_staff).get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("door:party_list")


def test_the_navigation_shows_door_staff_only_the_door(login, door_staff):
    page = login(door_staff).get(reverse("door:party_list")).content.decode()
    nav = page.split('<ul class="nav-links">', 1)[1].split("</ul>", 1)[0]
    assert "Door" in nav
    for hidden in ("Parties", "Integrations", "Members"):
        assert hidden not in nav
    assert "API tokens" not in page
    assert "Organization settings" not in page
    assert "Change password" in page


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
def test_everyone_else_checks_guests_in_too(login, owner, make_member, party, role):
    membership = (
        owner if role == Role.OWNER else make_member(role=role, organization=owner.organization)
    )
    client = login(membership)
    assert client.get(door_url("door_page", party)).status_code == 200
    page = client.get(reverse("parties:party_detail", args=[party.pk])).content.decode()
    assert door_url("door_page", party) in page


def test_another_organizations_door_is_404(login, door_staff, make_party):
    elsewhere = make_party()
    client = login(door_staff)
    for name in ("door_page", "guest_list", "guest_search", "walk_in"):
        assert client.get(door_url(name, elsewhere)).status_code == 404, name


def test_owners_invite_door_staff(login, owner, mailoutbox):
    client = login(owner)
    page = client.get(reverse("accounts:member_list")).content.decode()
    assert '<option value="door">Door staff</option>' in page
    response = client.post(
        reverse("accounts:invite_create"), {"email": "bo@example.com", "role": Role.DOOR}
    )
    assert response.status_code == 302
    assert Invite.objects.get(email="bo@example.com").role == Role.DOOR


def test_owners_make_a_member_door_staff_on_the_members_page(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    response = login(owner).post(
        reverse("accounts:member_change_role", args=[member.pk]), {"role": Role.DOOR}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == Role.DOOR
    assert member.is_door_staff
    assert not member.can_manage
