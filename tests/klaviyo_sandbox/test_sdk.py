"""Klaviyo's official Python SDK (klaviyo-api 24, revision 2026-07-15) against the sandbox.

The SDK parses every response into strict pydantic models, so a response shape the real
Klaviyo would never send fails here on the client side, not only in the schema check of
test_contract.py. It talks through urllib3, which `responses` cannot intercept: the sandbox
is served for real, by pytest-django's `live_server`, in this process, so the frozen sandbox
clock moves its jobs and rate-limit windows.
"""

from __future__ import annotations

import pytest
from openapi_client.models import (
    GetAccountResponseCollection,
    GetImportErrorResponseCollection,
    GetListListResponseCollectionCompoundDocument,
    GetListMemberResponseCollection,
    GetListRetrieveResponseCompoundDocument,
    GetProfileImportJobResponseCompoundDocument,
    GetProfileResponsePluralConversationsCollectionCompoundDocument,
    PatchListPartialUpdateResponse,
    PostListCreateResponse,
    PostProfileImportJobResponse,
)

from klaviyo_sandbox import clock, testing
from tests.support.sandbox_requests import (
    SDK_JOB_SECONDS,
    import_body,
    list_body,
    subscribe_body,
)

# The live server runs in another thread: its data must be committed to be seen.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])


def test_every_call_the_product_needs_parses_into_the_sdks_typed_models(klaviyo):
    def step() -> None:
        testing.advance(1)  # a new second: every burst limit has room again

    accounts = klaviyo.Accounts.get_accounts()
    assert isinstance(accounts, GetAccountResponseCollection)
    assert [account.id for account in accounts.data] == ["AcmePt"]

    step()
    single = klaviyo.Lists.create_list(list_body("Party"))
    double = klaviyo.Lists.create_list(list_body("VIP", opt_in="double_opt_in"))
    assert isinstance(single, PostListCreateResponse)
    assert double.data.attributes.opt_in_process == "double_opt_in"
    list_id = single.data.id

    step()
    fetched = klaviyo.Lists.get_list(list_id, additional_fields_list=["profile_count"])
    assert isinstance(fetched, GetListRetrieveResponseCompoundDocument)
    assert fetched.data.attributes.profile_count == 0
    listed = klaviyo.Lists.get_lists(filter='equals(name,"Party")')
    assert isinstance(listed, GetListListResponseCollectionCompoundDocument)
    assert [item.id for item in listed.data] == [list_id]
    renamed = klaviyo.Lists.update_list(
        list_id, {"data": {"type": "list", "id": list_id, "attributes": {"name": "Pet Party"}}}
    )
    assert isinstance(renamed, PatchListPartialUpdateResponse)
    assert renamed.data.attributes.name == "Pet Party"

    step()
    job = klaviyo.Profiles.bulk_import_profiles(
        import_body(
            list_id,
            [
                {"email": "rex@example.com", "properties": {"pet_name": "Rex"}},
                {"email": "nobody@bounce.invalid"},
            ],
        )
    )
    assert isinstance(job, PostProfileImportJobResponse)
    assert job.data.attributes.status == "queued"

    testing.advance(SDK_JOB_SECONDS)
    polled = klaviyo.Profiles.get_bulk_import_profiles_job(job.data.id)
    assert isinstance(polled, GetProfileImportJobResponseCompoundDocument)
    attributes = polled.data.attributes
    assert (attributes.status, attributes.completed_count, attributes.failed_count) == (
        "complete",
        1,
        1,
    )
    errors = klaviyo.Profiles.get_errors_for_bulk_import_profiles_job(job.data.id)
    assert isinstance(errors, GetImportErrorResponseCollection)
    [error] = errors.data
    assert error.attributes.source.pointer.startswith("/data/attributes/profiles/data/1")
    assert error.attributes.original_payload == {"email": "nobody@bounce.invalid"}

    step()
    subscribed_from = clock.now()
    assert (
        klaviyo.Profiles.bulk_subscribe_profiles(
            subscribe_body(list_id, ["rex@example.com", "sam@example.com"])
        )
        is None
    )
    testing.advance(SDK_JOB_SECONDS)

    profiles = klaviyo.Profiles.get_profiles(
        filter='any(email,["rex@example.com","sam@example.com","nobody@bounce.invalid"])',
        additional_fields_profile=["subscriptions"],
    )
    assert isinstance(profiles, GetProfileResponsePluralConversationsCollectionCompoundDocument)
    consent = {
        item.attributes.email: item.attributes.subscriptions.email.marketing.consent
        for item in profiles.data
    }
    assert consent == {"rex@example.com": "SUBSCRIBED", "sam@example.com": "SUBSCRIBED"}

    step()
    members = klaviyo.Lists.get_profiles_for_list(
        list_id,
        filter=f"greater-or-equal(joined_group_at,{subscribed_from.isoformat()})",
        additional_fields_profile=["subscriptions"],
    )
    assert isinstance(members, GetListMemberResponseCollection)
    # Rex joined with the import, before the subscription: only Sam joined since.
    assert [item.attributes.email for item in members.data] == ["sam@example.com"]

    step()
    sam = members.data[0].id
    removal = {"data": [{"type": "profile", "id": sam}]}
    assert klaviyo.Lists.remove_profiles_from_list(list_id, removal) is None
    remaining = klaviyo.Lists.get_profiles_for_list(list_id)
    assert [item.attributes.email for item in remaining.data] == ["rex@example.com"]
    # Out of the list, still subscribed: a removal is never an unsubscribe.
    assert testing.profile("sam@example.com")["consent"] == "SUBSCRIBED"

    step()
    assert (
        klaviyo.Profiles.bulk_subscribe_profiles(subscribe_body(None, ["una@example.com"])) is None
    )
    testing.advance(SDK_JOB_SECONDS)
    assert testing.profile("una@example.com")["lists"] == []
    assert testing.profile("una@example.com")["consent"] == "SUBSCRIBED"

    assert klaviyo.Lists.delete_list(double.data.id) is None


def test_the_sdk_requests_a_profile_deletion(klaviyo):
    testing.suppress("gone@example.com", "UNSUBSCRIBE")  # a profile to delete
    profile = {"type": "profile", "attributes": {"email": "gone@example.com"}}
    body = {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": profile}},
        }
    }

    assert klaviyo.Data_Privacy.request_profile_deletion(body) is None
    assert testing.profile("gone@example.com") is not None  # deleted asynchronously
    testing.advance(SDK_JOB_SECONDS)
    assert testing.profile("gone@example.com") is None
    assert testing.calls()[-1].operation == "request_profile_deletion"
