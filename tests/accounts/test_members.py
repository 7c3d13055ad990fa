import pytest
from django.urls import reverse

from accounts.models import Membership, Role


def change_role(client, membership, role):
    return client.post(reverse("accounts:member_change_role", args=[membership.pk]), {"role": role})


def remove(client, membership):
    return client.post(reverse("accounts:member_remove", args=[membership.pk]))


@pytest.mark.django_db
def test_members_page_lists_people(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    response = login(owner).get(reverse("accounts:member_list"))

    assert response.status_code == 200
    assert owner.user.email in response.text
    assert member.user.email in response.text


@pytest.mark.django_db
def test_owner_changes_a_role(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    response = change_role(login(owner), member, Role.ADMIN)

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == Role.ADMIN


@pytest.mark.django_db
def test_member_cannot_change_roles(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    other = make_member(role=Role.MEMBER, organization=owner.organization)

    response = change_role(login(member), other, Role.ADMIN)

    assert response.status_code == 403
    other.refresh_from_db()
    assert other.role == Role.MEMBER


@pytest.mark.django_db
def test_admin_cannot_promote_to_owner_or_touch_owners(login, owner, make_member):
    admin = make_member(role=Role.ADMIN, organization=owner.organization)
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    client = login(admin)

    assert change_role(client, member, Role.OWNER).status_code == 403
    assert change_role(client, owner, Role.MEMBER).status_code == 403
    assert remove(client, owner).status_code == 403
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER


@pytest.mark.django_db
def test_last_owner_cannot_be_demoted(login, owner):
    client = login(owner)

    response = change_role(client, owner, Role.ADMIN)

    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.role == Role.OWNER
    page = client.get(response.url)
    assert "at least one owner" in page.text


@pytest.mark.django_db
def test_last_owner_cannot_leave_even_by_posting(login, owner):
    client = login(owner)

    response = remove(client, owner)

    assert response.status_code == 302
    assert Membership.objects.filter(pk=owner.pk).exists()
    assert "You are the only owner, so you cannot leave" in client.get(response.url).text


@pytest.mark.django_db
def test_sole_owner_is_not_offered_leave(login, owner, make_member):
    make_member(role=Role.MEMBER, organization=owner.organization)
    leave_url = reverse("accounts:member_remove", args=[owner.pk])

    page = login(owner).get(reverse("accounts:member_list"))

    assert leave_url not in page.text
    assert ">Leave<" not in page.text
    assert "You are the only owner, so you cannot leave." in page.text


@pytest.mark.django_db
def test_sole_owner_opening_the_leave_page_is_sent_back_with_the_reason(login, owner):
    client = login(owner)

    response = client.get(reverse("accounts:member_remove", args=[owner.pk]))

    assert response.status_code == 302
    assert response.url == reverse("accounts:member_list")
    assert "You are the only owner, so you cannot leave" in client.get(response.url).text


@pytest.mark.django_db
def test_an_owner_with_a_co_owner_may_leave(login, owner, make_member):
    make_member(role=Role.OWNER, organization=owner.organization)
    client = login(owner)
    leave_url = reverse("accounts:member_remove", args=[owner.pk])

    assert leave_url in client.get(reverse("accounts:member_list")).text
    assert client.get(leave_url).status_code == 200
    assert remove(client, owner).status_code == 302
    assert not Membership.objects.filter(pk=owner.pk).exists()


@pytest.mark.django_db
def test_owner_can_be_removed_when_another_owner_remains(login, owner, make_member):
    second_owner = make_member(role=Role.OWNER, organization=owner.organization)

    response = remove(login(owner), second_owner)

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=second_owner.pk).exists()


@pytest.mark.django_db
def test_admin_removes_a_member_after_confirmation(login, owner, make_member):
    admin = make_member(role=Role.ADMIN, organization=owner.organization)
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    client = login(admin)

    confirm = client.get(reverse("accounts:member_remove", args=[member.pk]))
    assert confirm.status_code == 200
    assert member.user.email in confirm.text
    assert remove(client, member).status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()


@pytest.mark.django_db
def test_member_may_leave_but_not_remove_others(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    other = make_member(role=Role.MEMBER, organization=owner.organization)
    client = login(member)

    assert client.get(reverse("accounts:member_remove", args=[other.pk])).status_code == 403
    assert remove(client, other).status_code == 403
    assert remove(client, member).status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()


@pytest.mark.django_db
def test_invalid_role_value_is_refused(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    response = change_role(login(owner), member, "emperor")

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == Role.MEMBER
