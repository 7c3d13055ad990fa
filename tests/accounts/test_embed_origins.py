"""The sites allowed to embed an organization's signup forms, on its settings page (owners and
admins): web origins, https (plain http only for a developer's localhost), written one way."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import services
from accounts.models import Role
from accounts.origins import MAX_ORIGINS, normalize_origin, validate_origins

pytestmark = pytest.mark.django_db

URL = reverse("accounts:organization_settings")


def settings_form(**changes: str) -> dict[str, str]:
    return {"name": "Happy Paws", "time_zone": "UTC", "reminder_hours": "24, 2", **changes}


@pytest.mark.parametrize(
    ("typed", "origin"),
    [
        ("https://www.example.com", "https://www.example.com"),
        ("https://www.example.com/", "https://www.example.com"),
        ("HTTPS://WWW.Example.COM", "https://www.example.com"),
        ("www.example.com", "https://www.example.com"),
        ("https://www.example.com:443", "https://www.example.com"),
        ("https://shop.example.com:8443", "https://shop.example.com:8443"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("localhost:3000", "https://localhost:3000"),
        ("  https://www.example.com  ", "https://www.example.com"),
    ],
)
def test_a_site_is_kept_as_its_origin(typed, origin):
    assert normalize_origin(typed) == origin


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("http://www.example.com", "it must use https://"),
        ("https://www.example.com/events", "give the site only, without a page"),
        ("https://www.example.com?utm_source=x", "give the site only, without a page"),
        ("https://www.example.com#form", "give the site only, without a page"),
        ("https://user:pass@www.example.com", "must not hold a user name or password"),
        ("ftp://www.example.com", "it must start with https://"),
        ("javascript:alert(1)", "it must start with https://"),
        ("https://*.example.com", "wildcards are not allowed"),
        ("https://www.example.com:99999", "its port is not a number"),
        ("https://exa mple.com", "not a valid domain name"),
        ("https://-bad-.example.com", "not a valid domain name"),
        ("https://intranet", "write the site's full name"),
        ("https://[::1]", "use a host name"),
        ("'self'", "not a valid domain name"),
    ],
)
def test_anything_else_is_refused_saying_why(typed, why):
    with pytest.raises(ValidationError) as refused:
        normalize_origin(typed)

    assert why in refused.value.messages[0]
    assert typed.strip() in refused.value.messages[0]


def test_stored_origins_must_be_normalized_distinct_and_few():
    validate_origins(["https://a.example", "http://localhost:3000"])
    for bad in (
        ["https://A.example"],
        ["https://a.example", "https://a.example"],
        [f"https://s{n}.example" for n in range(MAX_ORIGINS + 1)],
        "https://a.example",
        [1],
    ):
        with pytest.raises(ValidationError):
            validate_origins(bad)  # type: ignore[arg-type]


def test_an_owner_lists_the_sites_one_per_line(login, owner):
    response = login(owner).post(
        URL,
        settings_form(
            embed_origins="www.acme-pets.example\r\nhttps://blog.acme.example/, "
            "https://WWW.acme-pets.example\r\n\r\nhttp://localhost:8000"
        ),
    )

    assert response.status_code == 302
    owner.organization.refresh_from_db()
    assert owner.organization.embed_origins == [
        "https://www.acme-pets.example",
        "https://blog.acme.example",
        "http://localhost:8000",
    ]
    page = login(owner).get(URL)
    assert "https://www.acme-pets.example\nhttps://blog.acme.example\nhttp://localhost:8000" in (
        page.text
    )


def test_an_admin_may_change_them_too(login, owner, make_member):
    admin = make_member(role=Role.ADMIN, organization=owner.organization)

    login(admin).post(URL, settings_form(embed_origins="https://www.example.com"))

    owner.organization.refresh_from_db()
    assert owner.organization.embed_origins == ["https://www.example.com"]


def test_an_empty_field_allows_no_site(login, owner):
    owner.organization.embed_origins = ["https://www.example.com"]
    owner.organization.save()

    login(owner).post(URL, settings_form(embed_origins=""))

    owner.organization.refresh_from_db()
    assert owner.organization.embed_origins == []


def test_each_bad_site_is_named_and_nothing_changes(login, owner):
    response = login(owner).post(
        URL,
        settings_form(
            name="Renamed",
            embed_origins="https://ok.example\nhttp://plain.example\nhttps://x.example/page",
        ),
    )

    assert response.status_code == 400
    assert "“http://plain.example” is not a site&#x27;s address: it must use https://" in (
        response.text
    )
    assert "“https://x.example/page” is not a site&#x27;s address" in response.text
    owner.organization.refresh_from_db()
    assert owner.organization.embed_origins == []
    assert owner.organization.name != "Renamed"


def test_too_many_sites_are_refused(login, owner):
    many = "\n".join(f"https://s{n}.example" for n in range(MAX_ORIGINS + 1))

    response = login(owner).post(URL, settings_form(embed_origins=many))

    assert response.status_code == 400
    assert f"List at most {MAX_ORIGINS} sites" in response.text


def test_members_cannot_change_them(login, owner, make_member):
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    response = login(member).post(URL, settings_form(embed_origins="https://evil.example"))

    assert response.status_code == 403
    owner.organization.refresh_from_db()
    assert owner.organization.embed_origins == []


def test_the_service_refuses_what_the_form_would(owner):
    with pytest.raises(ValidationError):
        services.organization_update(
            organization=owner.organization,
            actor=owner,
            name="Happy Paws",
            time_zone="UTC",
            embed_origins=["http://www.example.com"],
        )


def test_an_organizations_sites_are_its_own(login, owner, make_member):
    """Saving one organization's sites leaves every other organization's as they were, and a
    person in both changes only the one they act for."""
    other = make_member(role=Role.OWNER, user=owner.user).organization
    other.embed_origins = ["https://other.example"]
    other.save()

    login(owner).post(URL, settings_form(embed_origins="https://mine.example"))

    owner.organization.refresh_from_db()
    other.refresh_from_db()
    assert owner.organization.embed_origins == ["https://mine.example"]
    assert other.embed_origins == ["https://other.example"]
    page = login(owner).get(URL)
    assert "https://other.example" not in page.text


def test_the_party_page_asks_for_a_site_first_and_links_to_the_settings(
    login, owner, make_party, make_member
):
    party = make_party(owner.organization)
    party_url = reverse("parties:party_detail", args=[party.pk])

    page = login(owner).get(party_url)
    member_page = login(make_member(role=Role.MEMBER, organization=owner.organization)).get(
        party_url
    )

    section = page.text.split('id="embed"')[1].split("</section>")[0]
    assert "First add your site to" in section
    assert f'href="{URL}#id_embed_origins"' in section
    assert "data-party=&quot;" in section  # the snippet, shown as text
    assert "First an owner or admin adds your site" in member_page.text
    owner.organization.embed_origins = ["https://www.acme-pets.example"]
    owner.organization.save()
    listed = login(owner).get(party_url).text.split('id="embed"')[1].split("</section>")[0]
    assert "First add your site" not in listed
    assert "https://www.acme-pets.example" in listed
