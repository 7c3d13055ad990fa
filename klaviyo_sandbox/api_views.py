"""The REST endpoints (`/api/...`): parse the query, call a service, answer a JSON:API document.

Authentication, scopes, rate limits and body validation happened in `endpoint.api_endpoint`.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from klaviyo_sandbox import clock
from klaviyo_sandbox.bulk_import import import_job_create, import_job_get
from klaviyo_sandbox.data_privacy import deletion_job_create
from klaviyo_sandbox.endpoint import ApiCall, api_endpoint
from klaviyo_sandbox.jsonapi import (
    ApiError,
    FilterTerm,
    account_resource,
    api_url,
    collection_links,
    decode_cursor,
    document_response,
    encode_cursor,
    error_response,
    filter_datetime,
    import_error_resource,
    import_job_resource,
    invalid,
    list_param,
    list_resource,
    not_found,
    page_size,
    parse_filter,
    profile_resource,
)
from klaviyo_sandbox.lists import (
    list_create,
    list_delete,
    list_get,
    list_profile_count,
    list_update,
    memberships_remove,
)
from klaviyo_sandbox.models import KlaviyoList, Membership, MembershipStatus, Profile
from klaviyo_sandbox.profiles import profile_create, profile_upsert
from klaviyo_sandbox.routers import DATABASE
from klaviyo_sandbox.subscriptions import subscription_job_create

EQUALS_OR_ANY = {"equals", "any"}
COMPARISONS = {
    "greater-than": "gt",
    "greater-or-equal": "gte",
    "less-than": "lt",
    "less-or-equal": "lte",
}


def _filtered(queryset: QuerySet, terms: list[FilterTerm], prefix: str = "") -> QuerySet:
    for term in terms:
        if term.operator in COMPARISONS:
            lookup = f"{prefix}{term.field}__{COMPARISONS[term.operator]}"
            queryset = queryset.filter(**{lookup: filter_datetime(term)})
            continue
        values = term.values
        if term.field == "email":
            values = [value.strip().lower() for value in values]
        queryset = queryset.filter(**{f"{prefix}{term.field}__in": values})
    return queryset


@api_endpoint(GET="get_accounts")
def accounts(call: ApiCall) -> HttpResponse:
    # An OAuth token sees exactly one account: the one the app is installed in.
    request = call.request
    return document_response(
        {
            "data": [account_resource(request, call.account)],
            "links": {"self": api_url(request, "accounts/")},
        }
    )


@api_endpoint(GET="get_account")
def account(call: ApiCall, account_id: str) -> HttpResponse:
    if account_id != call.account.id:
        raise not_found(f"An account with id {account_id} does not exist.")
    resource = account_resource(call.request, call.account)
    return document_response({"data": resource, "links": {"self": resource["links"]["self"]}})


@api_endpoint(GET="get_lists", POST="create_list")
def lists(call: ApiCall) -> HttpResponse:
    request = call.request
    if request.method == "POST":
        attributes = call.body["data"]["attributes"]
        klaviyo_list = list_create(
            account=call.account,
            name=attributes["name"],
            opt_in_process=attributes.get("opt_in_process"),
        )
        resource = list_resource(request, klaviyo_list)
        return document_response(
            {"data": resource, "links": {"self": resource["links"]["self"]}}, status=201
        )

    size = page_size(request, default=10, maximum=10)
    terms = parse_filter(request, {"name": EQUALS_OR_ANY, "id": EQUALS_OR_ANY})
    queryset = _filtered(KlaviyoList.objects.using(DATABASE).filter(account=call.account), terms)
    cursor = decode_cursor(request, "id")
    if cursor is not None:
        queryset = queryset.filter(id__gt=cursor)
    page = list(queryset.order_by("id")[: size + 1])
    next_cursor = encode_cursor("id", page[size - 1].id) if len(page) > size else None
    fields = list_param(request, "fields[list]")
    return document_response(
        {
            "data": [list_resource(request, item, fields=fields) for item in page[:size]],
            "links": collection_links(request, next_cursor),
        }
    )


@api_endpoint(GET="get_list", PATCH="update_list", DELETE="delete_list")
def list_detail(call: ApiCall, list_id: str) -> HttpResponse:
    request = call.request
    klaviyo_list = list_get(account=call.account, list_id=list_id)
    if request.method == "DELETE":
        list_delete(klaviyo_list=klaviyo_list)
        return document_response(None, status=204)
    if request.method == "PATCH":
        data = call.body["data"]
        if data["id"] != list_id:
            raise ApiError(
                409,
                "conflict",
                "Conflict.",
                "The id in the body does not match the id in the URL.",
                pointer="/data/id",
            )
        klaviyo_list = list_update(klaviyo_list=klaviyo_list, attributes=data["attributes"])
    profile_count = None
    if request.method == "GET" and "profile_count" in list_param(
        request, "additional-fields[list]"
    ):
        profile_count = list_profile_count(klaviyo_list=klaviyo_list)
    resource = list_resource(
        request,
        klaviyo_list,
        profile_count=profile_count,
        fields=list_param(request, "fields[list]"),
    )
    return document_response({"data": resource, "links": {"self": resource["links"]["self"]}})


@api_endpoint(GET="get_profiles_for_list")
def list_profiles(call: ApiCall, list_id: str) -> HttpResponse:
    request = call.request
    klaviyo_list = list_get(account=call.account, list_id=list_id)
    size = page_size(request, default=20, maximum=100)
    profile_terms = parse_filter(
        request,
        {
            "email": EQUALS_OR_ANY,
            "phone_number": EQUALS_OR_ANY,
            "joined_group_at": set(COMPARISONS),
        },
    )
    membership_terms = [term for term in profile_terms if term.field == "joined_group_at"]
    profile_terms = [term for term in profile_terms if term.field != "joined_group_at"]
    sort = request.GET.get("sort", "joined_group_at")
    if sort not in {"joined_group_at", "-joined_group_at"}:
        raise invalid(f"Invalid sort: {sort!r}.", parameter="sort")
    descending = sort.startswith("-")
    # Members only: a double opt-in subscriber joins when they confirm.
    memberships = _filtered(
        Membership.objects.using(DATABASE)
        .filter(list=klaviyo_list, status=MembershipStatus.MEMBER)
        .select_related("profile"),
        profile_terms,
        prefix="profile__",
    )
    memberships = _filtered(memberships, membership_terms)
    cursor = decode_cursor(request, "member")
    if cursor is not None:
        if not cursor.isdigit():
            raise invalid("Invalid cursor provided.", parameter="page[cursor]")
        memberships = memberships.filter(**{"pk__lt" if descending else "pk__gt": int(cursor)})
    page = list(memberships.order_by("-pk" if descending else "pk")[: size + 1])
    next_cursor = encode_cursor("member", page[size - 1].pk) if len(page) > size else None
    subscriptions = "subscriptions" in list_param(request, "additional-fields[profile]")
    fields = list_param(request, "fields[profile]")
    return document_response(
        {
            "data": [
                profile_resource(
                    request,
                    membership.profile,
                    membership=membership,
                    subscriptions=subscriptions,
                    fields=fields,
                )
                for membership in page[:size]
            ],
            "links": collection_links(request, next_cursor),
        }
    )


@api_endpoint(DELETE="remove_profiles_from_list")
def list_profile_relationships(call: ApiCall, list_id: str) -> HttpResponse:
    klaviyo_list = list_get(account=call.account, list_id=list_id)
    memberships_remove(
        klaviyo_list=klaviyo_list, profile_ids=[item["id"] for item in call.body["data"]]
    )
    return document_response(None, status=204)


@api_endpoint(GET="get_profiles", POST="create_profile")
def profiles(call: ApiCall) -> HttpResponse:
    request = call.request
    subscriptions = "subscriptions" in list_param(request, "additional-fields[profile]")
    if request.method == "POST":
        profile = profile_create(account=call.account, attributes=call.body["data"]["attributes"])
        resource = profile_resource(request, profile, subscriptions=subscriptions)
        return document_response(
            {"data": resource, "links": {"self": resource["links"]["self"]}}, status=201
        )

    size = page_size(request, default=20, maximum=100)
    terms = parse_filter(
        request,
        {name: EQUALS_OR_ANY for name in ("id", "email", "phone_number", "external_id")},
    )
    # Profile ids are ULIDs, so id order is creation order.
    sort = request.GET.get("sort", "id")
    if sort not in {"id", "-id", "created", "-created"}:
        raise invalid(f"The sandbox does not sort profiles by {sort!r}.", parameter="sort")
    descending = sort.startswith("-")
    queryset = _filtered(Profile.objects.using(DATABASE).filter(account=call.account), terms)
    cursor = decode_cursor(request, "id")
    if cursor is not None:
        queryset = queryset.filter(**{"id__lt" if descending else "id__gt": cursor})
    page = list(queryset.order_by("-id" if descending else "id")[: size + 1])
    next_cursor = encode_cursor("id", page[size - 1].id) if len(page) > size else None
    fields = list_param(request, "fields[profile]")
    return document_response(
        {
            "data": [
                profile_resource(request, item, subscriptions=subscriptions, fields=fields)
                for item in page[:size]
            ],
            "links": collection_links(request, next_cursor),
        }
    )


@api_endpoint(POST="create_or_update_profile")
def profile_import(call: ApiCall) -> HttpResponse:
    request = call.request
    profile, created = profile_upsert(account=call.account, data=call.body["data"])
    subscriptions = "subscriptions" in list_param(request, "additional-fields[profile]")
    resource = profile_resource(request, profile, subscriptions=subscriptions)
    return document_response(
        {"data": resource, "links": {"self": resource["links"]["self"]}},
        status=201 if created else 200,
    )


@api_endpoint(POST="bulk_import_profiles")
def bulk_import_jobs(call: ApiCall) -> HttpResponse:
    job = import_job_create(account=call.account, data=call.body["data"])
    resource = import_job_resource(call.request, job, at=clock.now())
    return document_response(
        {"data": resource, "links": {"self": resource["links"]["self"]}}, status=202
    )


@api_endpoint(GET="get_bulk_import_profiles_job")
def bulk_import_job(call: ApiCall, job_id: str) -> HttpResponse:
    job = import_job_get(account=call.account, job_id=job_id)
    resource = import_job_resource(call.request, job, at=clock.now())
    return document_response({"data": resource, "links": {"self": resource["links"]["self"]}})


@api_endpoint(GET="get_errors_for_bulk_import_profiles_job")
def bulk_import_job_errors(call: ApiCall, job_id: str) -> HttpResponse:
    request = call.request
    job = import_job_get(account=call.account, job_id=job_id)
    size = page_size(request, default=20, maximum=100)
    # The errors are a fixed list once the job is complete (none before): the cursor is
    # the position of the next one.
    cursor = decode_cursor(request, "error")
    if cursor is not None and not cursor.isdigit():
        raise invalid("Invalid cursor provided.", parameter="page[cursor]")
    start = int(cursor or 0)
    errors = job.import_errors[start : start + size]
    more = start + size < len(job.import_errors)
    return document_response(
        {
            "data": [import_error_resource(error) for error in errors],
            "links": collection_links(
                request, encode_cursor("error", start + size) if more else None
            ),
        }
    )


@api_endpoint(POST="bulk_subscribe_profiles")
def subscription_jobs(call: ApiCall) -> HttpResponse:
    subscription_job_create(account=call.account, data=call.body["data"])
    return document_response(None, status=202)


@api_endpoint(POST="request_profile_deletion")
def data_privacy_deletion_jobs(call: ApiCall) -> HttpResponse:
    deletion_job_create(account=call.account, data=call.body["data"])
    return document_response(None, status=202)


def unknown(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any other /api/ path: Klaviyo's JSON 404, not an HTML page."""
    return error_response(not_found(f"No endpoint at /api/{path}."))
