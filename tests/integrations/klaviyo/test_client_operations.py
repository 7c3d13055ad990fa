"""The client's operations: endpoints, JSON:API request bodies and the records each returns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.klaviyo.bodies import (
    MAX_LIST_REMOVAL_BATCH,
    MAX_SUBSCRIBE_BATCH,
    bulk_import_body,
    create_list_body,
    list_removal_body,
    profile_deletion_body,
    subscribe_body,
    update_list_body,
)
from integrations.klaviyo.errors import (
    KlaviyoError,
    KlaviyoNotFound,
    KlaviyoPermissionDenied,
    KlaviyoValidationError,
)
from integrations.klaviyo.records import (
    Account,
    BulkImportJob,
    ImportRejection,
    KlaviyoList,
    ListMember,
    ListSuppression,
    ProfileConsent,
)
from klaviyo_sandbox import spec
from tests.support.klaviyo_doubles import BASE, error_document

LIST = {
    "type": "list",
    "id": "Y6nRLr",
    "attributes": {
        "name": "Party 42",
        "opt_in_process": "single_opt_in",
        "created": "2026-10-01T12:00:00+00:00",
    },
    "links": {"self": f"{BASE}/api/lists/Y6nRLr/"},
}
PARTY_42 = KlaviyoList(
    id="Y6nRLr",
    name="Party 42",
    opt_in_process="single_opt_in",
    created=datetime(2026, 10, 1, 12, tzinfo=UTC),
)
CONSENT = {"email": {"marketing": {"consent": "SUBSCRIBED"}}}


def sent(mocked, index: int = 0) -> dict:
    return json.loads(mocked.calls[index].request.body)


def query(mocked, index: int = 0) -> dict[str, list[str]]:
    return parse_qs(urlsplit(mocked.calls[index].request.url).query)


# --- Accounts ----------------------------------------------------------------------------------


def test_get_account_returns_the_single_account(client, mocked):
    account = {
        "type": "account",
        "id": "AbC123",
        "attributes": {
            "public_api_key": "AbC123",
            "test_account": False,
            "timezone": "US/Eastern",
            "contact_information": {
                "organization_name": "Acme Pets",
                "default_sender_name": "Acme",
                "default_sender_email": "hello@acme.example",
            },
        },
    }
    mocked.get(f"{BASE}/api/accounts/", json={"data": [account], "links": {}})

    assert client.get_account() == Account(
        id="AbC123",
        public_api_key="AbC123",
        organization_name="Acme Pets",
        default_sender_name="Acme",
        default_sender_email="hello@acme.example",
        timezone="US/Eastern",
        test_account=False,
    )


def test_get_account_without_an_account_is_not_found(client, mocked):
    mocked.get(f"{BASE}/api/accounts/", json={"data": []})

    with pytest.raises(KlaviyoNotFound):
        client.get_account()


# --- Lists -------------------------------------------------------------------------------------


def test_create_list_posts_a_list_and_returns_it(client, mocked):
    mocked.post(f"{BASE}/api/lists/", status=201, json={"data": LIST})

    assert client.create_list(name="Party 42", opt_in_process="single_opt_in") == PARTY_42
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


def test_find_lists_filters_on_the_exact_name(client, mocked):
    mocked.get(f"{BASE}/api/lists/", json={"data": [LIST], "links": {"next": None}})

    assert client.find_lists(name='Party "42"') == [PARTY_42]
    assert query(mocked)["filter"] == [r'equals(name,"Party \"42\"")']


def test_update_list_patches_type_id_and_name(client, mocked):
    mocked.patch(f"{BASE}/api/lists/Y6nRLr/", json={"data": LIST})

    assert client.update_list(list_id="Y6nRLr", name="Party 43") == PARTY_42

    assert sent(mocked) == update_list_body(list_id="Y6nRLr", name="Party 43")
    assert sent(mocked) == {
        "data": {"type": "list", "id": "Y6nRLr", "attributes": {"name": "Party 43"}}
    }


def test_delete_list_returns_none_on_204(client, mocked):
    mocked.delete(f"{BASE}/api/lists/Y6nRLr/", status=204)

    assert client.delete_list(list_id="Y6nRLr") is None


def test_ids_are_quoted_into_the_path(client, mocked):
    mocked.delete(f"{BASE}/api/lists/a%2F..%3Fx/", status=204)

    client.delete_list(list_id="a/..?x")

    assert urlsplit(mocked.calls[0].request.url).path == "/api/lists/a%2F..%3Fx/"


# --- Pagination --------------------------------------------------------------------------------


def test_pagination_follows_absolute_next_links(client, mocked):
    first = f"{BASE}/api/lists/Y6nRLr/profiles/"
    second = f"{first}?page%5Bcursor%5D=bmV4dDo6aWQ6OjI&page%5Bsize%5D=100"
    third = f"{first}?page%5Bcursor%5D=bmV4dDo6aWQ6OjM&page%5Bsize%5D=100"
    mocked.get(first, json={"data": [{"id": "p1"}, {"id": "p2"}], "links": {"next": second}})
    mocked.get(second, json={"data": [{"id": "p3"}], "links": {"next": third}})
    mocked.get(third, json={"data": [{"id": "p4"}], "links": {"next": None}})

    members = list(client.iter_list_profiles(list_id="Y6nRLr", fields=["email", "joined_group_at"]))

    assert [member.profile_id for member in members] == ["p1", "p2", "p3", "p4"]
    assert query(mocked, 0) == {
        "page[size]": ["100"],
        "fields[profile]": ["email,joined_group_at"],
    }
    # Later pages are the next links exactly as given (they carry the query already).
    assert [call.request.url for call in mocked.calls[1:]] == [second, third]


def test_pagination_is_lazy(client, mocked):
    first = f"{BASE}/api/lists/L1/profiles/"
    mocked.get(first, json={"data": [{"id": "p1"}], "links": {"next": f"{first}?page=2"}})

    members = client.iter_list_profiles(list_id="L1")
    assert next(members) == ListMember(profile_id="p1", email="", joined_group_at=None)

    assert len(mocked.calls) == 1


def test_pagination_refuses_a_next_link_it_already_read(client, mocked):
    first = f"{BASE}/api/lists/L1/profiles/"
    mocked.get(first, json={"data": [{"id": "p1"}], "links": {"next": first}})

    with pytest.raises(KlaviyoError, match="already read"):
        list(client.iter_list_profiles(list_id="L1"))


def test_pagination_refuses_a_next_link_to_another_host(client, mocked):
    first = f"{BASE}/api/lists/L1/profiles/"
    mocked.get(first, json={"data": [], "links": {"next": "https://evil.example/api/x"}})

    with pytest.raises(ValueError, match="outside"):
        list(client.iter_list_profiles(list_id="L1"))


@pytest.mark.parametrize("page_size", [0, 101])
def test_list_profiles_page_size_must_be_1_to_100(client, page_size):
    with pytest.raises(ValueError, match="page_size"):
        client.iter_list_profiles(list_id="L1", page_size=page_size)


# --- Profiles ----------------------------------------------------------------------------------


def test_list_members_among_returns_the_members_found(client, mocked):
    member = {
        "type": "profile",
        "id": "01GDD",
        "attributes": {"email": "sarah@example.com", "joined_group_at": "2026-10-02T08:30:00"},
    }
    mocked.get(f"{BASE}/api/lists/L1/profiles/", json={"data": [member], "links": {}})

    members = client.list_members_among(
        list_id="L1", emails=["sarah@example.com", "tom@example.com"]
    )

    assert members == [
        ListMember(
            profile_id="01GDD",
            email="sarah@example.com",
            joined_group_at=datetime(2026, 10, 2, 8, 30, tzinfo=UTC),
        )
    ]
    assert query(mocked) == {
        "filter": ['any(email,["sarah@example.com","tom@example.com"])'],
        "fields[profile]": ["email,joined_group_at"],
        "page[size]": ["100"],
    }


def test_profiles_with_consent_returns_consent_and_suppressions(client, mocked):
    profile = {
        "type": "profile",
        "id": "01GDD",
        "attributes": {
            "email": "sarah@example.com",
            "subscriptions": {
                "email": {
                    "marketing": {
                        "consent": "UNSUBSCRIBED",
                        "suppression": [{"reason": "HARD_BOUNCE", "timestamp": "2026-01-01"}],
                        "list_suppressions": [{"list_id": "L1", "reason": "UNSUBSCRIBE"}],
                    }
                }
            },
        },
    }
    mocked.get(f"{BASE}/api/profiles/", json={"data": [profile], "links": {}})

    assert client.profiles_with_consent(emails=["sarah@example.com"]) == [
        ProfileConsent(
            profile_id="01GDD",
            email="sarah@example.com",
            consent="UNSUBSCRIBED",
            suppressions=("HARD_BOUNCE",),
            list_suppressions=(ListSuppression(list_id="L1", reason="UNSUBSCRIBE"),),
        )
    ]
    assert query(mocked)["additional-fields[profile]"] == ["subscriptions"]


@pytest.mark.parametrize("count", [0, 101])
def test_filtered_reads_ask_about_1_to_100_addresses(client, mocked, count):
    emails = [f"user{n}@example.com" for n in range(count)]

    with pytest.raises(ValueError, match="1 to 100"):
        client.profiles_with_consent(emails=emails)

    assert len(mocked.calls) == 0


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

    job = client.bulk_import_profiles(profiles=[{"email": "a@example.com"}], list_id="L1")

    assert job.id == "01GSQPBF74"
    assert job.status == "queued"
    assert sent(mocked)["data"]["type"] == "profile-bulk-import-job"


def test_get_bulk_import_job_returns_its_status_and_counts(client, mocked):
    job = {
        "type": "profile-bulk-import-job",
        "id": "J1",
        "attributes": {
            "status": "complete",
            "total_count": 3,
            "completed_count": 2,
            "failed_count": 1,
        },
    }
    mocked.get(f"{BASE}/api/profile-bulk-import-jobs/J1/", json={"data": job})

    assert client.get_bulk_import_job(job_id="J1") == BulkImportJob(
        id="J1", status="complete", total_count=3, completed_count=2, failed_count=1
    )


def test_import_errors_name_the_email_sent_and_klaviyo_s_words(client, mocked):
    url = f"{BASE}/api/profile-bulk-import-jobs/J1/import-errors/"
    errors = [
        {
            "type": "import-error",
            "id": "E1",
            "attributes": {
                "code": "invalid",
                "title": "Invalid input.",
                "detail": "Invalid email address.",
                "original_payload": {"email": "not-an-email"},
            },
        },
        {
            "type": "import-error",
            "id": "E2",
            "attributes": {"title": "Invalid input.", "original_payload": {"phone_number": "1"}},
        },
    ]
    mocked.get(url, json={"data": errors, "links": {"next": None}})

    assert list(client.iter_import_errors(job_id="J1")) == [
        ImportRejection(email="not-an-email", message="Invalid email address."),
        ImportRejection(email="", message="Invalid input."),
    ]
    assert query(mocked) == {"page[size]": ["100"]}


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


def test_subscribe_body_without_a_list_records_consent_only():
    body = subscribe_body(
        list_id=None, emails_with_consent=["sarah@example.com"], custom_source="Waitlist"
    )

    assert "relationships" not in body["data"]
    assert body["data"]["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"] == (
        CONSENT
    )
    assert spec.validate_request_body("bulk_subscribe_profiles", body) == []


def test_subscribe_profiles_without_a_list_posts_no_list(client, mocked):
    mocked.post(f"{BASE}/api/profile-subscription-bulk-create-jobs/", status=202, body="")

    client.subscribe_profiles(
        list_id=None, emails_with_consent=["a@example.com"], custom_source="Waitlist"
    )

    assert "relationships" not in sent(mocked)["data"]


def test_subscribe_body_with_a_list_matches_the_spec():
    body = subscribe_body(list_id="L1", emails_with_consent=["a@example.com"], custom_source="x")

    assert spec.validate_request_body("bulk_subscribe_profiles", body) == []


# --- Removing profiles from a list -------------------------------------------------------------


def test_remove_profiles_from_list_deletes_the_relationship_by_profile_id(client, mocked):
    mocked.delete(f"{BASE}/api/lists/Y6nRLr/relationships/profiles/", status=204)

    result = client.remove_profiles_from_list(list_id="Y6nRLr", profile_ids=["01GDD", "01GDE"])

    assert result is None
    body = sent(mocked)
    assert body == {
        "data": [{"type": "profile", "id": "01GDD"}, {"type": "profile", "id": "01GDE"}]
    }
    assert spec.validate_request_body("remove_profiles_from_list", body) == []
    assert spec.find_operation("DELETE", mocked.calls[0].request.url).operation_id == (
        "remove_profiles_from_list"
    )


def test_a_removal_lost_to_an_outage_is_sent_again(client, mocked, sleeps):
    # Removing a profile twice leaves it out of the list once: the call may be repeated.
    url = f"{BASE}/api/lists/L1/relationships/profiles/"
    mocked.delete(url, status=503)
    mocked.delete(url, status=204)

    client.remove_profiles_from_list(list_id="L1", profile_ids=["01GDD"])

    assert len(mocked.calls) == 2


def test_list_removal_takes_1_to_1000_profiles_with_ids(client, mocked):
    assert len(list_removal_body(profile_ids=["p"] * MAX_LIST_REMOVAL_BATCH)["data"]) == 1000
    with pytest.raises(ValueError, match="at most 1000"):
        client.remove_profiles_from_list(list_id="L1", profile_ids=["p"] * 1001)
    with pytest.raises(ValueError, match="at least one"):
        list_removal_body(profile_ids=[])
    with pytest.raises(ValueError, match="Klaviyo id"):
        list_removal_body(profile_ids=["p", ""])

    assert len(mocked.calls) == 0


# --- Data privacy: deleting a person's profile -------------------------------------------------

DELETION_URL = f"{BASE}/api/data-privacy-deletion-jobs/"


def test_request_profile_deletion_posts_the_email_alone_and_returns_none_on_202(client, mocked):
    mocked.post(DELETION_URL, status=202, body="")

    result = client.request_profile_deletion(email="sarah@example.com")

    assert result is None
    body = sent(mocked)
    assert body == {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {
                "profile": {
                    "data": {"type": "profile", "attributes": {"email": "sarah@example.com"}}
                }
            },
        }
    }
    assert spec.validate_request_body("request_profile_deletion", body) == []
    assert spec.find_operation("POST", mocked.calls[0].request.url).operation_id == (
        "request_profile_deletion"
    )


@pytest.mark.parametrize(
    ("status", "code", "raised"),
    [
        (400, "invalid", KlaviyoValidationError),
        (403, "permission_denied", KlaviyoPermissionDenied),
    ],
)
def test_a_deletion_klaviyo_refuses_is_rejected_once(client, mocked, sleeps, status, code, raised):
    # 403: the connection was not granted data-privacy:write (it must be reconnected).
    mocked.post(
        DELETION_URL,
        status=status,
        json=error_document(status, code, "Refused.", pointer="/data/attributes/profile"),
    )

    with pytest.raises(raised) as caught:
        client.request_profile_deletion(email="sarah@example.com")

    assert (caught.value.status, caught.value.code) == (status, code)
    assert len(mocked.calls) == 1
    assert sleeps == []


def test_a_deletion_lost_to_an_outage_is_sent_again(client, mocked, sleeps):
    # Asking twice to delete an address's profiles ends as asking once: the call may repeat.
    mocked.post(DELETION_URL, status=503)
    mocked.post(DELETION_URL, status=202, body="")

    client.request_profile_deletion(email="sarah@example.com")

    assert len(mocked.calls) == 2


def test_a_profile_deletion_needs_an_email(client, mocked):
    with pytest.raises(ValueError, match="email"):
        client.request_profile_deletion(email="")
    with pytest.raises(ValueError, match="email"):
        profile_deletion_body(email="")

    assert len(mocked.calls) == 0
