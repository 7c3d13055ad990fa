"""GET /api/profile-bulk-import-jobs/{id}/import-errors: the profiles a job rejected, each
with Klaviyo's error fields, a pointer into the request and the payload it was sent."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest

from klaviyo_sandbox import testing
from tests.support.sandbox_requests import api, error_codes, import_body


def run_import(client, app, profiles: list[dict], list_id: str | None = None) -> str:
    response = api(client, "POST", "profile-bulk-import-jobs", app, import_body(list_id, profiles))
    assert response.status_code == 202
    return response.json()["data"]["id"]


def import_errors(client, app, job_id: str, query: str = ""):
    return api(client, "GET", f"profile-bulk-import-jobs/{job_id}/import-errors{query}", app)


def test_an_address_under_the_invalid_tld_is_rejected_with_its_pointer_and_payload(client, app):
    undeliverable = {
        "email": "Nobody@Bounce.invalid",
        "first_name": "No",
        "properties": {"pet_name": "Ghost"},
    }
    job_id = run_import(client, app, [{"email": "rex@example.com"}, undeliverable], "AcmNws")

    job = api(client, "GET", f"profile-bulk-import-jobs/{job_id}", app).json()["data"]
    assert (job["attributes"]["completed_count"], job["attributes"]["failed_count"]) == (1, 1)
    [error] = import_errors(client, app, job_id).json()["data"]
    assert error["type"] == "import-error"
    assert uuid.UUID(error["id"])
    assert error["attributes"] == {
        "code": "invalid",
        "title": "Invalid input.",
        "detail": "nobody@bounce.invalid is not a deliverable email address.",
        "source": {"pointer": "/data/attributes/profiles/data/1/attributes/email"},
        "original_payload": undeliverable,
    }
    assert testing.profile("nobody@bounce.invalid") is None
    assert [m["email"] for m in testing.list_members("AcmNws")] == ["rex@example.com"]


def test_a_malformed_address_is_an_import_error_too(client, app):
    job_id = run_import(client, app, [{"email": "broken"}])

    [error] = import_errors(client, app, job_id).json()["data"]

    assert error["attributes"]["code"] == "invalid"
    assert error["attributes"]["source"] == {
        "pointer": "/data/attributes/profiles/data/0/attributes/email"
    }
    assert error["attributes"]["original_payload"] == {"email": "broken"}


def test_a_job_that_has_not_run_yet_has_no_import_errors(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 2
    job_id = run_import(client, app, [{"email": "nobody@bounce.invalid"}])

    assert import_errors(client, app, job_id).json()["data"] == []


def test_import_errors_are_paginated_with_a_cursor(client, app):
    job_id = run_import(client, app, [{"email": f"p{i}@bounce.invalid"} for i in range(25)])

    first = import_errors(client, app, job_id).json()
    assert len(first["data"]) == 20  # the default page size
    parts = urlsplit(first["links"]["next"])
    second = client.get(f"{parts.path}?{parts.query}", headers=app.headers()).json()

    assert "next" not in second["links"]
    pointers = [e["attributes"]["source"]["pointer"] for e in first["data"] + second["data"]]
    assert pointers == [f"/data/attributes/profiles/data/{i}/attributes/email" for i in range(25)]
    assert len(import_errors(client, app, job_id, "?page[size]=100").json()["data"]) == 25


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("?page[size]=0", "page[size]"),
        ("?page[size]=101", "page[size]"),
        ("?page[cursor]=bm90LWEtY3Vyc29y", "page[cursor]"),
    ],
)
def test_bad_paging_is_400_on_its_parameter(client, app, query, parameter):
    job_id = run_import(client, app, [{"email": "a@example.com"}])

    response = import_errors(client, app, job_id, query)

    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": parameter}


def test_the_job_links_to_its_import_errors(client, app):
    job_id = run_import(client, app, [{"email": "nobody@bounce.invalid"}])
    job = api(client, "GET", f"profile-bulk-import-jobs/{job_id}", app).json()["data"]

    related = urlsplit(job["relationships"]["import-errors"]["links"]["related"])
    response = client.get(related.path, headers=app.headers())

    assert response.status_code == 200
    assert len(response.json()["data"]) == 1


def test_another_accounts_job_is_not_found(client, app):
    job_id = run_import(client, app, [{"email": "a@example.com"}])
    bark = testing.install_app(account=testing.BARK)

    response = import_errors(client, bark, job_id)

    assert response.status_code == 404
    assert error_codes(response) == ["not_found"]


def test_import_errors_need_profiles_read(client, app):
    job_id = run_import(client, app, [{"email": "a@example.com"}])
    writer = testing.install_app(scopes=["lists:write", "profiles:write"])

    assert import_errors(client, writer, job_id).status_code == 403
