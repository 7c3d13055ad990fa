"""Every response the sandbox sends matches the spec's response schema for its operation.

A scenario drives each operation through its success and its error answers; every response
is then checked with `klaviyo_sandbox.spec.validate_response_body` (jsonschema, `$ref`s
resolved into the slice's components, formats checked).
"""

from __future__ import annotations

import json

import pytest

from klaviyo_sandbox import spec, testing
from tests.support.sandbox_requests import api, import_body, list_body, subscribe_body


def check(response, operation_id: str) -> None:
    body = json.loads(response.content) if response.content else None
    violations = spec.validate_response_body(operation_id, response.status_code, body)
    assert violations == [], f"{operation_id} {response.status_code}: {violations}"


def test_every_operation_answers_with_its_documented_schema(client, app):
    exercised = set()

    def call(operation_id, method, path, body=None, expect=None, who=app):
        testing.advance(1)  # stay inside every burst limit
        response = api(client, method, path, who, body)
        if expect is not None:
            assert response.status_code == expect, response.content
        check(response, operation_id)
        exercised.add(operation_id)
        return response

    call("get_accounts", "GET", "accounts", expect=200)
    call("get_account", "GET", "accounts/AcmePt", expect=200)
    created = call("create_list", "POST", "lists", list_body("Party"), expect=201)
    list_id = created.json()["data"]["id"]
    call("get_lists", "GET", "lists?page[size]=1", expect=200)
    call("get_list", "GET", f"lists/{list_id}?additional-fields[list]=profile_count", expect=200)
    call(
        "update_list",
        "PATCH",
        f"lists/{list_id}",
        {"data": {"type": "list", "id": list_id, "attributes": {"name": "Renamed"}}},
        expect=200,
    )
    call(
        "create_profile",
        "POST",
        "profiles?additional-fields[profile]=subscriptions",
        {
            "data": {
                "type": "profile",
                "attributes": {"email": "a@example.com", "properties": {"pet_name": "Rex"}},
            }
        },
        expect=201,
    )
    call(
        "create_profile",
        "POST",
        "profiles",
        {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}},
        expect=409,
    )
    call(
        "create_or_update_profile",
        "POST",
        "profile-import",
        {"data": {"type": "profile", "attributes": {"email": "b@example.com"}}},
        expect=201,
    )
    call(
        "create_or_update_profile",
        "POST",
        "profile-import",
        {"data": {"type": "profile", "attributes": {"email": "b@example.com", "first_name": "B"}}},
        expect=200,
    )
    call(
        "get_profiles",
        "GET",
        'profiles?filter=equals(email,"a@example.com")&additional-fields[profile]=subscriptions',
        expect=200,
    )
    call("get_profiles", "GET", "profiles?page[size]=1", expect=200)
    job = call(
        "bulk_import_profiles",
        "POST",
        "profile-bulk-import-jobs",
        import_body(
            list_id,
            [
                {"email": "c@example.com", "properties": {"pet_type": "cat"}},
                {"email": "nobody@bounce.invalid", "first_name": "No"},
            ],
        ),
        expect=202,
    )
    job_id = job.json()["data"]["id"]
    call("get_bulk_import_profiles_job", "GET", f"profile-bulk-import-jobs/{job_id}", expect=200)
    errors = call(
        "get_errors_for_bulk_import_profiles_job",
        "GET",
        f"profile-bulk-import-jobs/{job_id}/import-errors?page[size]=1",
        expect=200,
    )
    assert len(errors.json()["data"]) == 1
    call(
        "get_errors_for_bulk_import_profiles_job",
        "GET",
        f"profile-bulk-import-jobs/{job_id}/import-errors?page[size]=101",
        expect=400,
    )
    call(
        "get_errors_for_bulk_import_profiles_job",
        "GET",
        "profile-bulk-import-jobs/nope/import-errors",
        expect=404,
    )
    call(
        "bulk_subscribe_profiles",
        "POST",
        "profile-subscription-bulk-create-jobs",
        subscribe_body(list_id, ["d@example.com"]),
        expect=202,
    )
    call(
        "get_profiles_for_list",
        "GET",
        f"lists/{list_id}/profiles?page[size]=1&additional-fields[profile]=subscriptions",
        expect=200,
    )
    call(
        "get_profiles_for_list",
        "GET",
        f"lists/{list_id}/profiles?filter=greater-than(joined_group_at,2026-01-01T00:00:00Z)",
        expect=200,
    )
    member_id = testing.profile("d@example.com")["id"]
    call(
        "remove_profiles_from_list",
        "DELETE",
        f"lists/{list_id}/relationships/profiles",
        {"data": [{"type": "profile", "id": member_id}]},
        expect=204,
    )
    call(
        "remove_profiles_from_list",
        "DELETE",
        "lists/nope00/relationships/profiles",
        {"data": [{"type": "profile", "id": member_id}]},
        expect=404,
    )
    testing.suppress("a@example.com", "HARD_BOUNCE")
    suppressed = call(
        "get_profiles",
        "GET",
        'profiles?filter=any(email,["a@example.com","d@example.com"])'
        "&additional-fields[profile]=subscriptions",
        expect=200,
    )
    assert {
        item["attributes"]["subscriptions"]["email"]["marketing"]["can_receive_email_marketing"]
        for item in suppressed.json()["data"]
    } == {False, True}
    call("get_profiles_for_list", "GET", f"lists/{list_id}/profiles?page[size]=0", expect=400)
    # Error answers follow the spec's error document too.
    call("create_list", "POST", "lists", {"data": {"type": "list", "attributes": {}}}, expect=400)
    call("get_list", "GET", "lists/nope00", expect=404)
    call("get_accounts", "GET", "accounts", who=None, expect=401)
    call(
        "create_list",
        "POST",
        "lists",
        list_body("x"),
        who=testing.install_app(account=testing.BARK, scopes="accounts:read"),
        expect=403,
    )
    call("delete_list", "DELETE", f"lists/{list_id}", expect=204)

    testing.start_throttle_storm(5)
    call("get_lists", "GET", "lists", expect=429)
    testing.start_outage(5)
    call("get_lists", "GET", "lists", expect=503)

    assert exercised == {
        "get_accounts",
        "get_account",
        "create_list",
        "get_lists",
        "get_list",
        "update_list",
        "delete_list",
        "get_profiles_for_list",
        "create_profile",
        "create_or_update_profile",
        "get_profiles",
        "bulk_import_profiles",
        "get_bulk_import_profiles_job",
        "get_errors_for_bulk_import_profiles_job",
        "bulk_subscribe_profiles",
        "remove_profiles_from_list",
    }


def test_a_profile_deletion_answers_with_its_documented_schema(client, app):
    """request_profile_deletion: 202 with no body, and the spec's error document for a bad
    body (400), a token without data-privacy:write (403) and a throttled call (429)."""
    profile = {"type": "profile", "attributes": {"email": "a@example.com"}}
    body = {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": profile}},
        }
    }
    without_scope = testing.install_app(account=testing.BARK, scopes="accounts:read")
    two_identifiers = {
        "data": {
            **body["data"],
            "attributes": {"profile": {"data": {**profile, "id": "01GDD"}}},
        }
    }

    answers = [
        (api(client, "POST", "data-privacy-deletion-jobs", app, body), 202),
        (api(client, "POST", "data-privacy-deletion-jobs", app, two_identifiers), 400),
        (api(client, "POST", "data-privacy-deletion-jobs", without_scope, body), 403),
        (api(client, "POST", "data-privacy-deletion-jobs", app, body), 202),
        (api(client, "POST", "data-privacy-deletion-jobs", app, body), 429),  # 3 a second
    ]

    assert [response.status_code for response, _ in answers] == [s for _, s in answers]
    for response, _ in answers:
        check(response, "request_profile_deletion")


def test_an_import_job_matches_its_schema_in_every_state(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 2
    body = import_body("AcmNws", [{"email": "a@example.com"}, {"email": "b@bounce.invalid"}])
    created = api(client, "POST", "profile-bulk-import-jobs", app, body)
    check(created, "bulk_import_profiles")
    path = f"profile-bulk-import-jobs/{created.json()['data']['id']}"
    seen = []

    for _ in range(3):
        testing.advance(1)
        response = api(client, "GET", path, app)
        check(response, "get_bulk_import_profiles_job")
        seen.append(response.json()["data"]["attributes"]["status"])
        check(
            api(client, "GET", f"{path}/import-errors", app),
            "get_errors_for_bulk_import_profiles_job",
        )

    assert [created.json()["data"]["attributes"]["status"], *seen] == [
        "queued",
        "processing",
        "complete",
        "complete",
    ]


@pytest.mark.parametrize(
    ("operation_id", "body", "pointer"),
    [
        ("create_list", {"data": {"type": "list"}}, "/data/attributes"),
        ("create_list", {"data": {"type": "list", "attributes": {"name": "x"}}}, None),
        (
            "bulk_subscribe_profiles",
            {"data": {"type": "profile-subscription-bulk-create-job", "attributes": {}}},
            "/data/attributes/profiles",
        ),
        (
            "request_profile_deletion",
            {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {}}}},
            "/data/attributes/profile/data",
        ),
    ],
)
def test_request_body_validator_for_later_client_contract_tests(operation_id, body, pointer):
    violations = spec.validate_request_body(operation_id, body)

    assert [v.pointer for v in violations] == ([pointer] if pointer else [])


def test_find_operation_maps_urls_to_operations():
    assert (
        spec.find_operation(
            "GET", "https://a.klaviyo.com/api/lists/Y6nRLr/profiles/?page[size]=5"
        ).operation_id
        == "get_profiles_for_list"
    )
    assert (
        spec.find_operation("POST", "/sandbox/klaviyo/api/profile-import").operation_id
        == "create_or_update_profile"
    )
    assert spec.find_operation("GET", "/healthz") is None


def test_formats_are_checked():
    body = {
        "data": [
            {"type": "account", "id": "x", "attributes": {}, "links": {"self": "relative/path"}}
        ]
    }

    pointers = {v.pointer for v in spec.validate_response_body("get_accounts", 200, body)}

    assert "/data/0/links/self" in pointers
