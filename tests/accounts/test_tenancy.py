"""Organization switching and tenant isolation: another tenant's object is a 404."""

import pytest
from django.urls import reverse

from accounts.models import Invite, Membership, Role
from accounts.tenancy import SESSION_KEY, get_for_org_or_404


@pytest.mark.django_db
def test_user_switches_between_their_organizations(login, make_member, owner):
    second = make_member(role=Role.MEMBER, user=owner.user)
    client = login(owner)

    response = client.post(
        reverse("accounts:organization_switch"), {"organization": second.organization_id}
    )

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == second.organization_id
    home = client.get(reverse("home"))
    assert home.context["request"].organization == second.organization
    assert "You are member" in home.text


@pytest.mark.django_db
def test_switching_to_an_organization_you_do_not_belong_to_is_404(login, make_member, owner):
    foreign = make_member(role=Role.OWNER)
    client = login(owner)

    response = client.post(
        reverse("accounts:organization_switch"), {"organization": foreign.organization_id}
    )

    assert response.status_code == 404
    assert client.session[SESSION_KEY] == owner.organization_id


@pytest.mark.django_db
def test_switch_requires_post(login, owner):
    assert login(owner).get(reverse("accounts:organization_switch")).status_code == 405


@pytest.mark.django_db
def test_stale_session_organization_falls_back_to_a_real_membership(login, make_member, owner):
    foreign = make_member(role=Role.OWNER)
    client = login(owner)
    session = client.session
    session[SESSION_KEY] = foreign.organization_id
    session.save()

    response = client.get(reverse("home"))

    assert response.context["request"].organization == owner.organization


@pytest.mark.django_db
def test_navigation_shows_the_organization_switcher(login, make_member, owner):
    second = make_member(role=Role.MEMBER, user=owner.user)

    response = login(owner).get(reverse("home"))

    assert 'name="organization"' in response.text
    assert second.organization.name in response.text


@pytest.mark.django_db
def test_a_member_of_one_organization_has_no_switcher(login, owner):
    response = login(owner).get(reverse("home"))

    assert "org-switcher" not in response.text


@pytest.mark.django_db
def test_user_creates_another_organization_and_works_in_it(login, owner):
    client = login(owner)

    response = client.post(reverse("accounts:organization_create"), {"name": "Second Shop"})

    assert response.status_code == 302
    membership = Membership.objects.get(user=owner.user, organization__name="Second Shop")
    assert membership.role == Role.OWNER
    assert client.session[SESSION_KEY] == membership.organization_id


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url_name"),
    [
        ("post", "accounts:member_change_role"),
        ("post", "accounts:member_remove"),
        ("get", "accounts:member_remove"),
    ],
)
def test_other_organizations_memberships_are_404(login, make_member, owner, method, url_name):
    foreign = make_member(role=Role.MEMBER)

    response = getattr(login(owner), method)(
        reverse(url_name, args=[foreign.pk]), {"role": "admin"}
    )

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == Role.MEMBER


@pytest.mark.django_db
def test_other_organizations_invites_are_404(login, make_member, owner):
    foreign_owner = make_member(role=Role.OWNER)
    invite = Invite.objects.create(
        organization=foreign_owner.organization,
        email="x@example.com",
        role=Role.MEMBER,
        token_hash="0" * 64,
        expires_at="2999-01-01T00:00:00Z",
    )

    response = login(owner).post(reverse("accounts:invite_revoke", args=[invite.pk]))

    assert response.status_code == 404
    invite.refresh_from_db()
    assert invite.revoked_at is None


@pytest.mark.django_db
def test_get_for_org_or_404_never_crosses_tenants(make_member, owner):
    from django.http import Http404

    foreign = make_member(role=Role.MEMBER)

    assert get_for_org_or_404(Membership, organization=owner.organization, pk=owner.pk) == owner
    with pytest.raises(Http404):
        get_for_org_or_404(Membership, organization=owner.organization, pk=foreign.pk)
