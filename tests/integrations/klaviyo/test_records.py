"""Klaviyo's answers parsed into records: lenient where Klaviyo may leave a field out, strict
where an answer is unusable without it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.klaviyo.errors import KlaviyoUnavailable
from integrations.klaviyo.records import (
    BulkImportJob,
    ImportRejection,
    KlaviyoList,
    ListMember,
    ProfileConsent,
    primary_resource,
    primary_resources,
)


@pytest.mark.parametrize("record", [KlaviyoList, ListMember, ProfileConsent, BulkImportJob])
@pytest.mark.parametrize("resource", [{"type": "x"}, {"type": "x", "id": ""}, {"id": None}])
def test_a_resource_without_an_id_is_not_klaviyo_s_answer(record, resource):
    with pytest.raises(KlaviyoUnavailable, match="without an id"):
        record.from_resource(resource)


def test_absent_attributes_read_as_empty():
    assert ProfileConsent.from_resource({"id": "P1"}) == ProfileConsent(
        profile_id="P1", email="", consent=None, suppressions=(), list_suppressions=()
    )
    assert BulkImportJob.from_resource({"id": "J1", "attributes": None}) == BulkImportJob(
        id="J1", status="", total_count=0, completed_count=0, failed_count=0
    )
    assert ImportRejection.from_resource({"attributes": {"original_payload": "x"}}) == (
        ImportRejection(email="", message="")
    )


def test_values_of_the_wrong_type_are_not_taken():
    job = BulkImportJob.from_resource(
        {"id": 7, "attributes": {"status": 1, "failed_count": True, "total_count": "3"}}
    )

    assert job == BulkImportJob(id="7", status="", total_count=0, completed_count=0, failed_count=0)


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2026-10-01T12:00:00+00:00", datetime(2026, 10, 1, 12, tzinfo=UTC)),
        ("2026-10-01T12:00:00Z", datetime(2026, 10, 1, 12, tzinfo=UTC)),
        ("2026-10-01T12:00:00", datetime(2026, 10, 1, 12, tzinfo=UTC)),  # no zone: UTC
        ("yesterday", None),
        (None, None),
    ],
)
def test_timestamps_are_aware(value, moment):
    member = ListMember.from_resource({"id": "P1", "attributes": {"joined_group_at": value}})

    assert member.joined_group_at == moment


def test_a_document_without_data_is_not_klaviyo_s_answer():
    with pytest.raises(KlaviyoUnavailable, match="without data"):
        primary_resource({"links": {}})
    with pytest.raises(KlaviyoUnavailable):
        primary_resource(None)


def test_a_collection_keeps_only_resources():
    assert primary_resources({"data": [{"id": "a"}, "b", None]}) == [{"id": "a"}]
    assert primary_resources({"data": {"id": "a"}}) == []
    assert primary_resources(None) == []
