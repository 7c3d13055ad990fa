"""The REST API: revision, authentication, scopes, bodies, lists, profiles, jobs, consent."""

from __future__ import annotations

import pytest
from django.test import override_settings

from klaviyo_sandbox import testing
from tests.support.sandbox_requests import (
    api,
    error_codes,
    import_body,
    list_body,
    subscribe_body,
)

# --- The door: revision, authentication, scopes ------------------------------------------


def test_missing_revision_header_is_400(client, app):
    response = api(client, "GET", "accounts", app, headers={"revision": ""})

    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": "revision"}


def test_unknown_revision_is_400(client, app):
    response = api(client, "GET", "accounts", app, headers={"revision": "2019-01-01"})

    assert response.status_code == 400
    assert error_codes(response) == ["invalid"]


def test_known_revisions_are_accepted(client, app):
    for revision in ("2026-07-15", "2026-10-15", "2026-07-15.pre"):
        testing.advance(1)
        assert (
            api(client, "GET", "accounts", app, headers={"revision": revision}).status_code == 200
        )


def test_no_credentials_is_401_not_authenticated(client):
    response = api(client, "GET", "accounts")

    assert response.status_code == 401
    body = response.json()["errors"][0]
    assert body["code"] == "not_authenticated"
    assert body["status"] == 401  # a number, as Klaviyo sends it


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Klaviyo-API-Key pk_abc"])
def test_unknown_credentials_are_401_authentication_failed(client, header):
    response = api(client, "GET", "accounts", headers={"Authorization": header})

    assert response.status_code == 401
    assert error_codes(response) == ["authentication_failed"]


def test_missing_scope_is_403_permission_denied(client):
    app = testing.install_app(scopes=["accounts:read"])

    response = api(client, "POST", "lists", app, list_body("Party"))

    assert response.status_code == 403
    assert error_codes(response) == ["permission_denied"]
    assert "lists:write" in response.json()["errors"][0]["detail"]


def test_list_members_need_both_lists_read_and_profiles_read(client):
    app = testing.install_app(scopes=["lists:read"])

    response = api(client, "GET", "lists/AcmNws/profiles", app)

    assert response.status_code == 403


def test_responses_are_json_api(client, app):
    response = api(client, "GET", "accounts", app)

    assert response["Content-Type"] == "application/vnd.api+json"


@pytest.mark.parametrize(
    "path", ["accounts", "accounts/", "lists", "lists/", "lists/AcmNws", "lists/AcmNws/"]
)
def test_paths_work_with_and_without_a_trailing_slash(client, app, path):
    assert api(client, "GET", path, app).status_code == 200


@override_settings(ALLOWED_HOSTS=["sandbox.example"])
def test_links_are_absolute_and_use_the_request_host(client, app):
    response = api(client, "GET", "accounts", app, headers={"Host": "sandbox.example:8100"})

    body = response.json()
    assert body["links"]["self"] == "http://sandbox.example:8100/sandbox/klaviyo/api/accounts/"
    assert body["data"][0]["links"]["self"].startswith("http://sandbox.example:8100/")


def test_unknown_api_path_is_a_json_404(client, app):
    response = api(client, "GET", "campaigns", app)

    assert response.status_code == 404
    assert error_codes(response) == ["not_found"]


def test_unsupported_method_is_405(client, app):
    response = api(client, "PUT", "lists", app, list_body("x"))

    assert response.status_code == 405


# --- Body validation ---------------------------------------------------------------------------


def test_body_is_validated_against_the_spec_with_a_pointer(client, app):
    response = api(client, "POST", "lists", app, {"data": {"type": "list", "attributes": {}}})

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "invalid"
    assert error["source"] == {"pointer": "/data/attributes/name"}


def test_wrong_type_and_enum_are_reported_where_they_are(client, app):
    body = {"data": {"type": "lists", "attributes": {"name": 5, "opt_in_process": "maybe"}}}

    response = api(client, "POST", "lists", app, body)

    pointers = {error["source"]["pointer"] for error in response.json()["errors"]}
    assert pointers == {"/data/type", "/data/attributes/name", "/data/attributes/opt_in_process"}


def test_invalid_json_is_400(client, app):
    response = client.generic(
        "POST",
        "/sandbox/klaviyo/api/lists",
        "{not json",
        content_type="application/vnd.api+json",
        headers=app.headers(),
    )

    assert response.status_code == 400


def test_subscribe_consent_must_be_subscribed(client, app):
    body = subscribe_body("AcmNws", ["a@example.com"])
    body["data"]["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"]["email"][
        "marketing"
    ]["consent"] = "YES"

    response = api(client, "POST", "profile-subscription-bulk-create-jobs", app, body)

    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["pointer"] == (
        "/data/attributes/profiles/data/0/attributes/subscriptions/email/marketing/consent"
    )


# --- Accounts and lists -------------------------------------------------------------------------


def test_accounts_returns_exactly_the_installed_account(client, app):
    body = api(client, "GET", "accounts", app).json()

    assert [account["id"] for account in body["data"]] == ["AcmePt"]
    attributes = body["data"][0]["attributes"]
    assert attributes["public_api_key"] == "AcmePt"
    assert attributes["contact_information"]["organization_name"] == "Acme Pets"


def test_create_get_update_delete_a_list(client, app):
    created = api(client, "POST", "lists", app, list_body("Party 42"))
    assert created.status_code == 201
    list_id = created.json()["data"]["id"]
    assert created.json()["data"]["attributes"]["opt_in_process"] == "single_opt_in"

    testing.advance(1)
    fetched = api(client, "GET", f"lists/{list_id}?additional-fields[list]=profile_count", app)
    assert fetched.json()["data"]["attributes"]["profile_count"] == 0

    patched = api(
        client,
        "PATCH",
        f"lists/{list_id}",
        app,
        {"data": {"type": "list", "id": list_id, "attributes": {"name": "Party 43"}}},
    )
    assert patched.status_code == 200
    assert patched.json()["data"]["attributes"]["name"] == "Party 43"

    assert api(client, "DELETE", f"lists/{list_id}", app).status_code == 204
    assert api(client, "GET", f"lists/{list_id}", app).status_code == 404


def test_a_list_takes_the_account_default_opt_in_when_none_is_given(client):
    app = testing.install_app(account=testing.BARK)

    created = api(client, "POST", "lists", app, list_body("Pack", opt_in=None))

    assert created.json()["data"]["attributes"]["opt_in_process"] == "double_opt_in"


def test_patch_with_a_different_id_is_a_conflict(client, app):
    response = api(
        client,
        "PATCH",
        "lists/AcmNws",
        app,
        {"data": {"type": "list", "id": "Other1", "attributes": {}}},
    )

    assert response.status_code == 409


def test_another_accounts_list_is_not_found(client, app):
    assert api(client, "GET", "lists/BrkVip", app).status_code == 404


def test_find_a_list_by_name(client, app):
    api(client, "POST", "lists", app, list_body("Party 42"))
    testing.advance(1)

    response = api(client, "GET", 'lists?filter=equals(name,"Party 42")', app)

    assert [item["attributes"]["name"] for item in response.json()["data"]] == ["Party 42"]


def test_unsupported_filter_is_400_on_the_filter_parameter(client, app):
    response = api(client, "GET", 'lists?filter=equals(opt_in_process,"x")', app)

    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": "filter"}


# --- Profiles -------------------------------------------------------------------------------------


def profile(email: str, **attributes):
    return {"data": {"type": "profile", "attributes": {"email": email, **attributes}}}


def test_create_profile_then_duplicate_is_409_with_the_existing_id(client, app):
    created = api(
        client,
        "POST",
        "profiles",
        app,
        profile("sarah@example.com", properties={"pet_name": "Rex"}),
    )
    assert created.status_code == 201
    profile_id = created.json()["data"]["id"]
    assert len(profile_id) == 26

    duplicate = api(client, "POST", "profiles", app, profile("SARAH@example.com"))

    assert duplicate.status_code == 409
    error = duplicate.json()["errors"][0]
    assert error["code"] == "duplicate_profile"
    assert error["meta"]["duplicate_profile_id"] == profile_id


def test_a_profile_needs_an_identifier_and_a_valid_email(client, app):
    no_identifier = api(
        client,
        "POST",
        "profiles",
        app,
        {"data": {"type": "profile", "attributes": {"first_name": "A"}}},
    )
    bad_email = api(client, "POST", "profiles", app, profile("not-an-email"))

    assert no_identifier.status_code == 400
    assert bad_email.json()["errors"][0]["source"]["pointer"] == "/data/attributes/email"


def test_profile_import_creates_then_updates(client, app):
    first = api(client, "POST", "profile-import", app, profile("a@example.com", first_name="A"))
    second = api(
        client,
        "POST",
        "profile-import",
        app,
        profile("a@example.com", last_name="B", properties={"pet_type": "cat"}),
    )

    assert (first.status_code, second.status_code) == (201, 200)
    attributes = second.json()["data"]["attributes"]
    assert (attributes["first_name"], attributes["last_name"]) == ("A", "B")
    assert attributes["properties"] == {"pet_type": "cat"}


def test_profile_import_conflict_when_identifiers_belong_to_two_profiles(client, app):
    api(client, "POST", "profiles", app, profile("a@example.com"))
    api(
        client,
        "POST",
        "profiles",
        app,
        {"data": {"type": "profile", "attributes": {"phone_number": "+15005550006"}}},
    )

    response = api(
        client, "POST", "profile-import", app, profile("a@example.com", phone_number="+15005550006")
    )

    assert response.status_code == 409


def test_get_profiles_filtered_by_email(client, app):
    api(client, "POST", "profiles", app, profile("a@example.com"))
    api(client, "POST", "profiles", app, profile("b@example.com"))

    response = api(client, "GET", 'profiles?filter=equals(email,"b@example.com")', app)

    assert [item["attributes"]["email"] for item in response.json()["data"]] == ["b@example.com"]


def test_bulk_import_job_creates_profiles_with_properties_on_the_list(client, app):
    body = import_body(
        "AcmNws",
        [
            {
                "email": "rex@example.com",
                "first_name": "Sam",
                "properties": {"pet_name": "Rex", "pet_type": "dog"},
            },
            {"email": "tom@example.com", "properties": {"pet_name": "Tom", "pet_type": "cat"}},
        ],
    )

    created = api(client, "POST", "profile-bulk-import-jobs", app, body)

    assert created.status_code == 202
    job = created.json()["data"]
    assert job["attributes"]["status"] == "queued"
    assert job["attributes"]["total_count"] == 2
    fetched = api(client, "GET", f"profile-bulk-import-jobs/{job['id']}", app)
    assert fetched.json()["data"]["attributes"]["status"] == "complete"
    assert fetched.json()["data"]["attributes"]["completed_count"] == 2
    members = testing.list_members("AcmNws")
    assert [(m["email"], m["properties"]["pet_name"]) for m in members] == [
        ("rex@example.com", "Rex"),
        ("tom@example.com", "Tom"),
    ]
    assert testing.call_count("POST", "/api/profile-bulk-import-jobs") == 1


def test_bulk_import_counts_failed_profiles(client, app):
    body = import_body(None, [{"email": "ok@example.com"}, {"email": "broken"}])

    job_id = api(client, "POST", "profile-bulk-import-jobs", app, body).json()["data"]["id"]

    job = api(client, "GET", f"profile-bulk-import-jobs/{job_id}", app).json()["data"]
    assert (job["attributes"]["completed_count"], job["attributes"]["failed_count"]) == (1, 1)


def test_bulk_import_to_an_unknown_list_is_404(client, app):
    response = api(
        client,
        "POST",
        "profile-bulk-import-jobs",
        app,
        import_body("nope00", [{"email": "a@example.com"}]),
    )

    assert response.status_code == 404


# --- Subscribe -----------------------------------------------------------------------------------


def test_subscribe_to_a_single_opt_in_list_is_202_empty_and_subscribes_now(client, app):
    response = api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", ["a@example.com"]),
    )

    assert response.status_code == 202
    assert response.content == b""
    [member] = testing.list_members("AcmNws")
    assert member["consent"] == "SUBSCRIBED"
    assert member["custom_source"] == "Pet Party signup"


def test_subscribe_to_a_double_opt_in_list_waits_for_confirmation(client):
    app = testing.install_app(account=testing.BARK)
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("BrkVip", ["a@example.com"]),
    )

    assert testing.list_members("BrkVip") == []
    [pending] = testing.list_members("BrkVip", include_pending=True)
    assert (pending["status"], pending["consent"]) == ("pending", "NEVER_SUBSCRIBED")

    testing.confirm_pending("BrkVip", "a@example.com")

    [member] = testing.list_members("BrkVip")
    assert (member["consent"], member["double_optin"]) == ("SUBSCRIBED", True)


def test_subscribe_takes_at_most_1000_profiles(client, app):
    emails = [f"p{i}@example.com" for i in range(1001)]

    response = api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", emails),
    )

    assert response.status_code == 400
    assert testing.list_members("AcmNws") == []


def test_subscribe_an_existing_profile_keeps_its_properties(client, app):
    api(client, "POST", "profiles", app, profile("a@example.com", properties={"pet_name": "Rex"}))

    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", ["a@example.com"]),
    )

    [member] = testing.list_members("AcmNws")
    assert member["properties"] == {"pet_name": "Rex"}


def test_consent_shows_with_additional_fields_subscriptions(client, app):
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", ["a@example.com"]),
    )

    response = api(
        client, "GET", "lists/AcmNws/profiles?additional-fields[profile]=subscriptions", app
    )

    marketing = response.json()["data"][0]["attributes"]["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "SUBSCRIBED"
    assert marketing["can_receive_email_marketing"] is True


# --- Removing profiles from a list ---------------------------------------------------------------


def removal_body(*profile_ids: str) -> dict:
    return {"data": [{"type": "profile", "id": profile_id} for profile_id in profile_ids]}


def test_removing_a_member_takes_it_out_of_that_list_only_and_keeps_its_consent(client, app):
    other = testing.create_list(name="Other party").id
    for list_id in ("AcmNws", other):
        api(
            client,
            "POST",
            "profile-subscription-bulk-create-jobs",
            app,
            subscribe_body(list_id, ["a@example.com", "b@example.com"]),
        )
    member = testing.profile("a@example.com")

    response = api(
        client, "DELETE", "lists/AcmNws/relationships/profiles", app, removal_body(member["id"])
    )

    assert response.status_code == 204
    assert response.content == b""
    assert [m["email"] for m in testing.list_members("AcmNws")] == ["b@example.com"]
    after = testing.profile("a@example.com")
    # Never an unsubscribe: consent, suppression and the other list are as they were.
    assert (after["consent"], after["suppression"], after["lists"]) == ("SUBSCRIBED", None, [other])


def test_removing_a_non_member_or_unknown_id_is_harmless(client, app):
    api(client, "POST", "profiles", app, profile("a@example.com"))
    outsider = testing.profile("a@example.com")["id"]

    response = api(
        client,
        "DELETE",
        "lists/AcmNws/relationships/profiles/",
        app,
        removal_body(outsider, "01NOSUCHPROFILE0000000000"),
    )

    assert response.status_code == 204
    assert testing.profile("a@example.com")["lists"] == []


def test_removing_a_pending_double_opt_in_request_withdraws_it(client):
    app = testing.install_app(account=testing.BARK)
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("BrkVip", ["a@example.com"]),
    )
    pending = testing.profile("a@example.com", account=testing.BARK)["id"]

    api(client, "DELETE", "lists/BrkVip/relationships/profiles", app, removal_body(pending))

    assert testing.list_members("BrkVip", include_pending=True) == []


def test_removal_takes_at_most_1000_profiles_and_needs_ids(client, app):
    too_many = api(
        client,
        "DELETE",
        "lists/AcmNws/relationships/profiles",
        app,
        removal_body(*[f"p{n}" for n in range(1001)]),
    )
    no_id = api(
        client,
        "DELETE",
        "lists/AcmNws/relationships/profiles",
        app,
        {"data": [{"type": "profile", "email": "a@example.com"}]},
    )

    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["source"] == {"pointer": "/data"}
    assert no_id.status_code == 400


def test_removal_from_another_accounts_list_is_not_found(client, app):
    response = api(
        client, "DELETE", "lists/BrkVip/relationships/profiles", app, removal_body("01GDD")
    )

    assert response.status_code == 404


def test_removal_needs_lists_write_and_profiles_write(client):
    reader = testing.install_app(scopes=["lists:read", "lists:write"])

    response = api(
        client, "DELETE", "lists/AcmNws/relationships/profiles", reader, removal_body("01GDD")
    )

    assert response.status_code == 403


def test_subscribing_without_a_list_records_consent_and_joins_no_list(client, app):
    response = api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body(None, ["a@example.com"]),
    )

    assert response.status_code == 202
    assert testing.profile("a@example.com") | {"id": ""} == {
        "id": "",
        "email": "a@example.com",
        "consent": "SUBSCRIBED",
        "suppression": None,
        "lists": [],
    }
