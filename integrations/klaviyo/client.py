"""The Klaviyo REST operations Partyline uses, for one connected account.

Each operation builds its request (bodies in `bodies`, filters in `filters`), sends it through
the one door (`transport.Transport.request`: pacing, retries, errors, logging) and returns
typed records (`records`), never a JSON:API document.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from integrations.klaviyo.bodies import (
    bulk_import_body,
    create_list_body,
    list_removal_body,
    profile_deletion_body,
    subscribe_body,
    update_list_body,
)
from integrations.klaviyo.client_events import EventOperations
from integrations.klaviyo.config import KlaviyoConfig, klaviyo_config
from integrations.klaviyo.errors import KlaviyoNotFound
from integrations.klaviyo.filters import any_of, equals, filtered_queries
from integrations.klaviyo.paging import paginate, segment
from integrations.klaviyo.ratelimits import RateBudget
from integrations.klaviyo.records import (
    Account,
    BulkImportJob,
    ImportRejection,
    JSONDict,
    KlaviyoList,
    ListMember,
    ProfileConsent,
    primary_resource,
    primary_resources,
)
from integrations.klaviyo.transport import TokenSource, Transport

# `page[size]` maximum for profiles and list members.
MAX_PAGE_SIZE = 100


class KlaviyoClient(EventOperations):
    """The REST API of one connected Klaviyo account; cheap to build, safe to share."""

    def __init__(
        self,
        *,
        token_source: TokenSource,
        config: KlaviyoConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
        budget: RateBudget | None = None,
        account_id: str = "",
    ) -> None:
        """`budget` paces every call to the Klaviyo account `account_id` (without both, only
        Klaviyo's 429s pace the client: the one call made before the account is known)."""
        self._transport = Transport(
            token_source=token_source,
            config=config or klaviyo_config(),
            sleep=sleep,
            budget=budget,
            account_id=account_id,
        )

    # Accounts ---------------------------------------------------------------------------------

    def get_account(self) -> Account:
        """The connected account (`GET /api/accounts/` holds exactly one)."""
        document = self._transport.request("GET", "/api/accounts/", operation="get_accounts")
        accounts = primary_resources(document)
        if not accounts:
            raise KlaviyoNotFound(status=200, detail="Klaviyo returned no account.")
        return Account.from_resource(accounts[0])

    # Lists ------------------------------------------------------------------------------------

    def create_list(self, *, name: str, opt_in_process: str | None = None) -> KlaviyoList:
        """Create a list. Not retried once it may have reached Klaviyo: a replay could create a
        second list against a 150-per-day cap; the caller can look the name up instead."""
        document = self._transport.request(
            "POST",
            "/api/lists/",
            operation="create_list",
            json=create_list_body(name=name, opt_in_process=opt_in_process),
            idempotent=False,
        )
        return KlaviyoList.from_resource(primary_resource(document))

    def find_lists(self, *, name: str) -> list[KlaviyoList]:
        """The lists named exactly `name` (a create whose answer was lost may have made one)."""
        resources = paginate(
            self._transport,
            "/api/lists/",
            operation="get_lists",
            params={"filter": equals("name", name)},
        )
        return [KlaviyoList.from_resource(resource) for resource in resources]

    def update_list(self, *, list_id: str, name: str) -> KlaviyoList:
        document = self._transport.request(
            "PATCH",
            f"/api/lists/{segment(list_id)}/",
            operation="update_list",
            json=update_list_body(list_id=list_id, name=name),
        )
        return KlaviyoList.from_resource(primary_resource(document))

    def delete_list(self, *, list_id: str) -> None:
        self._transport.request(
            "DELETE", f"/api/lists/{segment(list_id)}/", operation="delete_list"
        )

    def iter_list_profiles(
        self, *, list_id: str, page_size: int = MAX_PAGE_SIZE, fields: list[str] | None = None
    ) -> Iterator[ListMember]:
        """Every member of a list, page by page, lazily (`fields` narrows what Klaviyo sends
        of each profile; ask for `email` at least)."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}.")
        params: JSONDict = {"page[size]": page_size}
        if fields:
            params["fields[profile]"] = ",".join(fields)
        resources = paginate(
            self._transport,
            f"/api/lists/{segment(list_id)}/profiles/",
            operation="get_profiles_for_list",
            params=params,
        )
        return (ListMember.from_resource(resource) for resource in resources)

    def remove_profiles_from_list(self, *, list_id: str, profile_ids: Sequence[str]) -> None:
        """Take up to 1,000 profiles (by Klaviyo id) out of one list (204). Their consent and
        their other lists are untouched: this is never an unsubscribe."""
        self._transport.request(
            "DELETE",
            f"/api/lists/{segment(list_id)}/relationships/profiles/",
            operation="remove_profiles_from_list",
            json=list_removal_body(profile_ids=profile_ids),
        )

    def list_members_among(self, *, list_id: str, emails: Sequence[str]) -> list[ListMember]:
        """Which of up to 100 `emails` are members of the list: one read call, or a few when
        the addresses are too long for one request line."""
        resources = self._filtered_read(
            f"/api/lists/{segment(list_id)}/profiles/",
            operation="get_profiles_for_list",
            field="email",
            values=emails,
            params={"fields[profile]": "email,joined_group_at", "page[size]": MAX_PAGE_SIZE},
        )
        return [ListMember.from_resource(resource) for resource in resources]

    # Profiles ---------------------------------------------------------------------------------

    def profiles_with_consent(self, *, emails: Sequence[str]) -> list[ProfileConsent]:
        """The email consent and suppressions of up to 100 `emails`: one read call, or a few
        when the addresses are too long for one request line. Addresses Klaviyo has no profile
        for are absent."""
        resources = self._filtered_read(
            "/api/profiles/",
            operation="get_profiles",
            field="email",
            values=emails,
            params={
                "fields[profile]": "email,subscriptions",
                "additional-fields[profile]": "subscriptions",
                "page[size]": MAX_PAGE_SIZE,
            },
        )
        return [ProfileConsent.from_resource(resource) for resource in resources]

    def bulk_import_profiles(
        self, *, profiles: Sequence[Mapping[str, Any]], list_id: str | None = None
    ) -> BulkImportJob:
        """Start a bulk import job (Klaviyo processes it asynchronously)."""
        document = self._transport.request(
            "POST",
            "/api/profile-bulk-import-jobs/",
            operation="bulk_import_profiles",
            json=bulk_import_body(profiles=profiles, list_id=list_id),
        )
        return BulkImportJob.from_resource(primary_resource(document))

    def get_bulk_import_job(self, *, job_id: str) -> BulkImportJob:
        document = self._transport.request(
            "GET",
            f"/api/profile-bulk-import-jobs/{segment(job_id)}/",
            operation="get_bulk_import_profiles_job",
        )
        return BulkImportJob.from_resource(primary_resource(document))

    def iter_import_errors(self, *, job_id: str) -> Iterator[ImportRejection]:
        """The profiles a bulk import job rejected, 100 a page, lazily."""
        resources = paginate(
            self._transport,
            f"/api/profile-bulk-import-jobs/{segment(job_id)}/import-errors/",
            operation="get_errors_for_bulk_import_profiles_job",
            params={"page[size]": MAX_PAGE_SIZE},
        )
        return (ImportRejection.from_resource(resource) for resource in resources)

    def subscribe_profiles(
        self,
        *,
        list_id: str | None,
        emails_with_consent: Sequence[str | Mapping[str, Any]],
        custom_source: str,
    ) -> None:
        """Subscribe up to 1,000 consenting profiles to email marketing and the list (None:
        record their consent only, in no list).

        Klaviyo answers 202 with no body and applies it asynchronously.
        """
        body = subscribe_body(
            list_id=list_id, emails_with_consent=emails_with_consent, custom_source=custom_source
        )
        self._transport.request(
            "POST",
            "/api/profile-subscription-bulk-create-jobs/",
            operation="bulk_subscribe_profiles",
            json=body,
        )

    # Data privacy -----------------------------------------------------------------------------

    def request_profile_deletion(self, *, email: str) -> None:
        """Ask Klaviyo to delete every profile with this email from the whole account: every
        list, event and flow history there, not only Partyline's (scope data-privacy:write).

        Klaviyo answers 202 with no body and deletes asynchronously: no API reports when it
        is done (its Deleted Profiles page shows it), and the spec documents no error for an
        address without a profile. Replayed after an outage like any idempotent call: asking
        twice to delete an address's profiles ends as asking once does.
        """
        self._transport.request(
            "POST",
            "/api/data-privacy-deletion-jobs/",
            operation="request_profile_deletion",
            json=profile_deletion_body(email=email),
        )

    # Filtered reads ---------------------------------------------------------------------------

    def _filtered_read(
        self,
        path: str,
        *,
        operation: str,
        field: str,
        values: Sequence[str],
        params: Mapping[str, Any],
    ) -> list[JSONDict]:
        """The resources whose `field` is any of up to 100 `values`, read in as few calls as
        fit the byte budget of a request line (`filters.filtered_queries`), merged. Each call
        asks about at most a page of values, so one page holds all its answers."""
        if not 1 <= len(values) <= MAX_PAGE_SIZE:
            raise ValueError(f"Ask about 1 to {MAX_PAGE_SIZE} values at a time, not {len(values)}.")
        resources: list[JSONDict] = []
        for query in filtered_queries(
            "GET",
            self._transport.url(path),
            values=values,
            filter_for=lambda batch: any_of(field, batch),
            params=params,
            max_values=MAX_PAGE_SIZE,
        ):
            document = self._transport.request("GET", path, operation=operation, params=query)
            resources += primary_resources(document)
        return resources
