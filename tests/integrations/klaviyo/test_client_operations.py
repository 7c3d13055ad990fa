"""The client's operations: endpoints, JSON:API request bodies and what each returns."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.klaviyo import (
    MAX_SUBSCRIBE_BATCH,
    KlaviyoError,
    KlaviyoNotFound,
    bulk_import_body,
    create_list_body,
    email_filter,
    subscribe_body,
    update_list_body,
)
from tests.support.klaviyo_doubles import BASE

LIST = {
    "type": "list",
    "id": "Y6nRLr",
    "attributes": {"name": "Party 42", "opt_in_process": "single_opt_in"},
    "links": {"self": f"{BASE}/api/lists/Y6nRLr/"},
}
CONSENT = {"email": {"marketing": {"consent": "SUBSCRIBED"}}}


def sent(mocked, index: int = 0) -> dict:
    return json.loads(mocked.calls[index].request.body)


def query(mocked, index: int = 0) -> dict[str, list[str]]:
    return parse_qs(urlsplit(mocked.calls[index].request.url).query)


# --- Accounts ----------------------------------------------------------------------------------


def test_get_account_returns_the_single_account(client, mocked):
    account = {"type": "account", "id": "AbC123", "attributes": {"public_api_key": "AbC123"}}
    mocked.get(f"{BASE}/api/accounts/", json={"data": [account], "links": {}})

    assert client.get_account() == account


def test_get_account_without_an_account_is_not_found(client, mocked):
    mocked.get(f"{BASE}/api/accounts/", json={"data": []})

    with pytest.raises(KlaviyoNotFound):
        client.get_account()


# --- Lists -------------------------------------------------------------------------------------


def test_create_list_posts_a_list_and_returns_it(client, mocked):
    mocked.post(f"{BASE}/api/lists/", status=201, json={"data": LIST})

    assert client.create_list(name="Party 42", opt_in_process="single_opt_in") == LIST
    assert sent(mocked) == {
        "data": {
            "type": "list",
            "attributes": {"name": "Party 42", "opt_in_process": "single_opt_in"},
        }
    }


def test_create_list_body_leaves_opt_in_to_the_account_default():
    assert create_list_body(name="Party") == {
        "data": {"type": "list", "attributes": {"name": "Party"}}
    }


def test_get_list_fetches_by_id(client, mocked):
    mocked.get(f"{BASE}/api/lists/Y6nRLr/", json={"data": LIST})

    assert client.get_list(list_id="Y6nRLr") == LIST


def test_update_list_patches_type_id_and_name(client, mocked):
    mocked.patch(f"{BASE}/api/lists/Y6nRLr/", json={"data": LIST})

    client.update_list(list_id="Y6nRLr", name="Party 43")

    assert sent(mocked) == update_list_body(list_id="Y6nRLr", name="Party 43")
    assert sent(mocked) == {
        "data": {"type": "list", "id": "Y6nRLr", "attributes": {"name": "Party 43"}}
    }


def test_delete_list_returns_none_on_204(client, mocked):
    mocked.delete(f"{BASE}/api/lists/Y6nRLr/", status=204)

    assert client.delete_list(list_id="Y6nRLr") is None


def test_ids_are_quoted_into_the_path(client, mocked):
    mocked.get(f"{BASE}/api/lists/a%2F..%3Fx/", json={"data": LIST})

    client.get_list(list_id="a/..?x")

    assert urlsplit(mocked.calls[0].request.url).path == "/api/lists/a%2F..%3Fx/"


# --- Pagination --------------------------------------------------------------------------------


def test_pagination_follows_absolute_next_links(client, mocked):
    first = f"{BASE}/api/lists/Y6nRLr/profiles/"
    second = f"{first}?page%5Bcursor%5D=bmV4dDo6aWQ6OjI&page%5Bsize%5D=100"
    third = f"{first}?page%5Bcursor%5D=bmV4dDo6aWQ6OjM&page%5Bsize%5D=100"
    mocked.get(first, json={"data": [{"id": "p1"}, {"id": "p2"}], "links": {"next": second}})
    mocked.get(second, json={"data": [{"id": "p3"}], "links": {"next": third}})
    mocked.get(third, json={"data": [{"id": "p4"}], "links": {"next": None}})

    profiles = list(
        client.iter_list_profiles(list_id="Y6nRLr", fields=["email", "joined_group_at"])
    )

    assert [profile["id"] for profile in profiles] == ["p1", "p2", "p3", "p4"]
    assert query(mocked, 0) == {
        "page[size]": ["100"],
        "fields[profile]": ["email,joined_group_at"],
    }
    # Later pages are the next links exactly as given (they carry the query already).
    assert [call.request.url for call in mocked.calls[1:]] == [second, third]


def test_pagination_is_lazy(client, mocked):
    first = f"{BASE}/api/lists/L1/profiles/"
    mocked.get(first, json={"data": [{"id": "p1"}], "links": {"next": f"{first}?page=2"}})

    profiles = client.iter_list_profiles(list_id="L1")
    assert next(profiles) == {"id": "p1"}

    assert len(mocked.calls) == 1


def test_pagination_refuses_a_next_link_it_already_read(client, mocked):
    first = f"{BASE}/api/lists/L1/profiles/"
    mocked.get(first, json={"data": [{"id": "p1"}], "links": {"next": first}})

    with pytest.raises(KlaviyoError, match="already read"):
        list(client.paginate(first))


def test_pagination_refuses_a_next_link_to_another_host(client, mocked):
    first = f"{BASE}/api/lists/L1/profiles/"
    mocked.get(first, json={"data": [], "links": {"next": "https://evil.example/api/x"}})

    with pytest.raises(ValueError, match="outside"):
        list(client.paginate(first))


@pytest.mark.parametrize("page_size", [0, 101])
def test_list_profiles_page_size_must_be_1_to_100(client, page_size):
    with pytest.raises(ValueError, match="page_size"):
        client.iter_list_profiles(list_id="L1", page_size=page_size)


# --- Profiles ----------------------------------------------------------------------------------


def test_get_profile_by_email_filters_on_email(client, mocked):
    profile = {"type": "profile", "id": "01GDD", "attributes": {"email": "sarah@example.com"}}
    mocked.get(f"{BASE}/api/profiles/", json={"data": [profile]})

    assert client.get_profile_by_email(email="sarah@example.com") == profile
    assert query(mocked)["filter"] == ['equals(email,"sarah@example.com")']


def test_get_profile_by_email_returns_none_when_absent(client, mocked):
    mocked.get(f"{BASE}/api/profiles/", json={"data": [], "links": {"next": None}})

    assert client.get_profile_by_email(email="nobody@example.com") is None


def test_email_filter_escapes_quotes_and_backslashes():
    assert email_filter('a"),or(x\\@example.com') == r'equals(email,"a\"),or(x\\@example.com")'


def test_create_or_update_profile_posts_to_profile_import(client, mocked):
    profile = {"type": "profile", "id": "01GDD", "attributes": {"email": "sarah@example.com"}}
    mocked.post(f"{BASE}/api/profile-import/", status=201, json={"data": profile})
    attributes = {"email": "sarah@example.com", "first_name": "Sarah", "properties": {"pet": "Rex"}}

    assert client.create_or_update_profile(attributes=attributes) == profile
    assert sent(mocked) == {"data": {"type": "profile", "attributes": attributes}}


# --- Bulk import jobs --------------------------------------------------------------------------


def test_bulk_import_body_wraps_each_profile_and_links_the_list():
    body = bulk_import_body(
        profiles=[
            {
                "email": "sarah@example.com",
                "first_name": "Sarah",
                "last_name": "Mason",
                "properties": {"pet_name": "Rex", "pet_type": "dog"},
            }
        ],
        list_id="Y6nRLr",
    )

    assert body == {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": "sarah@example.com",
                                "first_name": "Sarah",
                                "last_name": "Mason",
                                "properties": {"pet_name": "Rex", "pet_type": "dog"},
                            },
                        }
                    ]
                }
            },
            "relationships": {"lists": {"data": [{"type": "list", "id": "Y6nRLr"}]}},
        }
    }


def test_bulk_import_body_without_a_list_has_no_relationships():
    body = bulk_import_body(profiles=[{"email": "a@example.com"}])

    assert "relationships" not in body["data"]


def test_bulk_import_rejects_an_empty_batch():
    with pytest.raises(ValueError, match="at least one"):
        bulk_import_body(profiles=[])


def test_bulk_import_profiles_returns_the_job_id(client, mocked):
    job = {
        "type": "profile-bulk-import-job",
        "id": "01GSQPBF74",
        "attributes": {"status": "queued"},
    }
    mocked.post(f"{BASE}/api/profile-bulk-import-jobs/", status=202, json={"data": job})

    job_id = client.bulk_import_profiles(profiles=[{"email": "a@example.com"}], list_id="L1")

    assert job_id == "01GSQPBF74"
    assert sent(mocked)["data"]["type"] == "profile-bulk-import-job"


def test_get_bulk_import_job_returns_its_status(client, mocked):
    job = {"type": "profile-bulk-import-job", "id": "J1", "attributes": {"status": "complete"}}
    mocked.get(f"{BASE}/api/profile-bulk-import-jobs/J1/", json={"data": job})

    assert client.get_bulk_import_job(job_id="J1") == job


# --- Subscriptions -----------------------------------------------------------------------------


def test_subscribe_body_grants_email_marketing_consent_and_links_the_list():
    body = subscribe_body(
        list_id="Y6nRLr",
        emails_with_consent=["sarah@example.com"],
        custom_source="Partyline signup",
    )

    assert body == {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "custom_source": "Partyline signup",
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {"email": "sarah@example.com", "subscriptions": CONSENT},
                        }
                    ]
                },
            },
            "relationships": {"list": {"data": {"type": "list", "id": "Y6nRLr"}}},
        }
    }


def test_subscribe_body_accepts_dicts_with_a_profile_id():
    body = subscribe_body(
        list_id="L1",
        emails_with_consent=[{"email": "a@example.com", "id": "01GDD"}, {"email": "b@example.com"}],
        custom_source="x",
    )

    assert body["data"]["attributes"]["profiles"]["data"] == [
        {
            "type": "profile",
            "id": "01GDD",
            "attributes": {"email": "a@example.com", "subscriptions": CONSENT},
        },
        {"type": "profile", "attributes": {"email": "b@example.com", "subscriptions": CONSENT}},
    ]


def test_subscribe_body_rejects_unknown_keys():
    with pytest.raises(ValueError, match="Unexpected"):
        subscribe_body(
            list_id="L1", emails_with_consent=[{"email": "a@x.com", "sms": True}], custom_source="x"
        )


def test_subscribe_rejects_more_than_1000_profiles(client, mocked):
    emails = [f"user{n}@example.com" for n in range(MAX_SUBSCRIBE_BATCH + 1)]

    with pytest.raises(ValueError, match="at most 1000"):
        client.subscribe_profiles(list_id="L1", emails_with_consent=emails, custom_source="x")

    assert len(mocked.calls) == 0


def test_subscribe_accepts_exactly_1000_profiles():
    emails = [f"user{n}@example.com" for n in range(1000)]

    body = subscribe_body(list_id="L1", emails_with_consent=emails, custom_source="x")

    assert len(body["data"]["attributes"]["profiles"]["data"]) == 1000


def test_subscribe_profiles_posts_the_job_and_returns_none_on_202(client, mocked):
    mocked.post(f"{BASE}/api/profile-subscription-bulk-create-jobs/", status=202, body="")

    result = client.subscribe_profiles(
        list_id="L1", emails_with_consent=["a@example.com"], custom_source="Partyline signup"
    )

    assert result is None
    assert sent(mocked)["data"]["type"] == "profile-subscription-bulk-create-job"
