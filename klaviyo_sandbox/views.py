"""The sandbox's own pages: accounts, lists and members, suppressions, deleted profiles,
flows, installed apps, faults, call log.

Each view reads or calls one service and redirects; every POST is CSRF-protected. Pages
that show profiles first apply the jobs that are due, as the API does. Outside DEBUG every
page is for staff only (`operator_only`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import Count, Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from klaviyo_sandbox import faults, flows, jobs, oauth, seed, subscriptions, suppression
from klaviyo_sandbox.forms import FaultForm, FlowForm, FlowStatusForm, SuppressForm
from klaviyo_sandbox.jsonapi import ApiError
from klaviyo_sandbox.models import (
    Account,
    CallLog,
    Flow,
    Installation,
    KlaviyoList,
    Membership,
    MembershipStatus,
    Profile,
    TokenKind,
)
from klaviyo_sandbox.routers import DATABASE

CALL_LOG_PAGE = 200
FLOW_MESSAGES_PAGE = 200
DELETIONS_SHOWN = 50

ModelT = TypeVar("ModelT", bound=Model)

View = Callable[..., HttpResponse]


def operator_only(view: View) -> View:
    """Open in DEBUG (`make run`); otherwise a staff login first (the admin's login page).

    These pages show attendees' emails and pet data and can break, expire or uninstall the
    app, so a sandbox asked for outside DEBUG (KLAVIYO_SANDBOX=true) must not serve them to
    anyone. The consent page and the API are not behind it: the product and its organizers
    use them, and they authenticate the way Klaviyo's do (PKCE, client secret, tokens).
    """
    staff_view = staff_member_required(view)

    @wraps(view)
    def gated(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if settings.DEBUG:
            return view(request, *args, **kwargs)
        return staff_view(request, *args, **kwargs)

    return gated


def _get(queryset: QuerySet[ModelT], **lookup: Any) -> ModelT:
    found = queryset.filter(**lookup).first()
    if found is None:
        raise Http404
    return found


@operator_only
def home(request: HttpRequest) -> HttpResponse:
    seed.sandbox_seed()
    jobs.jobs_catch_up()
    accounts = Account.objects.using(DATABASE).annotate(
        list_count=Count("lists", distinct=True),
        installation_count=Count(
            "installations", filter=Q(installations__uninstalled_at__isnull=True), distinct=True
        ),
    )
    context = {
        "accounts": accounts,
        "faults": faults.faults_active().values(),
        "fault_form": FaultForm(),
    }
    return render(request, "klaviyo_sandbox/home.html", context)


@operator_only
def account_detail(request: HttpRequest, account_id: str) -> HttpResponse:
    seed.sandbox_seed()
    account = _get(Account.objects.using(DATABASE), id=account_id)
    jobs.jobs_catch_up(account=account)
    lists = account.lists.annotate(
        member_count=Count("memberships", filter=Q(memberships__status=MembershipStatus.MEMBER)),
        pending_count=Count("memberships", filter=Q(memberships__status=MembershipStatus.PENDING)),
    )
    installations = account.installations.annotate(
        live_refresh_tokens=Count(
            "tokens",
            filter=Q(tokens__kind=TokenKind.REFRESH, tokens__revoked_at__isnull=True),
        )
    )
    context = {
        "account": account,
        "lists": lists,
        "installations": installations,
        "suppressed": suppression.suppressed_profiles(account=account),
        "suppress_form": SuppressForm(),
        "deletions": account.deletion_jobs.all()[:DELETIONS_SHOWN],
    }
    return render(request, "klaviyo_sandbox/account.html", context)


@operator_only
def list_detail(request: HttpRequest, list_id: str) -> HttpResponse:
    seed.sandbox_seed()
    klaviyo_list = _get(KlaviyoList.objects.using(DATABASE).select_related("account"), id=list_id)
    jobs.jobs_catch_up(account=klaviyo_list.account)
    memberships = (
        Membership.objects.using(DATABASE)
        .filter(list=klaviyo_list)
        .select_related("profile")
        .order_by("status", "pk")  # "member" sorts before "pending"
    )
    page = Paginator(memberships, 50).get_page(request.GET.get("page"))
    pending_count = memberships.filter(status=MembershipStatus.PENDING).count()
    context = {"list": klaviyo_list, "page": page, "pending_count": pending_count}
    return render(request, "klaviyo_sandbox/list.html", context)


@operator_only
@require_POST
def membership_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _get(
        Membership.objects.using(DATABASE).select_related("profile", "list"),
        pk=pk,
        status=MembershipStatus.PENDING,
    )
    subscriptions.membership_confirm(membership=membership)
    messages.success(request, f"{membership.profile} confirmed: subscribed to {membership.list}.")
    return redirect("klaviyo_sandbox:list", list_id=membership.list_id)


@operator_only
@require_POST
def suppression_add(request: HttpRequest, account_id: str) -> HttpResponse:
    account = _get(Account.objects.using(DATABASE), id=account_id)
    form = SuppressForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter an email address and choose a reason.")
        return redirect("klaviyo_sandbox:account", account_id=account.id)
    # Jobs due before the suppression was made apply first, as they would have in Klaviyo.
    jobs.jobs_catch_up(account=account)
    try:
        profile = suppression.profile_suppress(
            account=account, email=form.cleaned_data["email"], reason=form.cleaned_data["reason"]
        )
    except ApiError as error:  # an address Django accepts but Klaviyo does not (a@localhost)
        messages.error(request, error.detail)
    else:
        messages.success(
            request,
            f"{profile.email} suppressed ({profile.get_email_suppression_display().lower()}): "
            "it gets no email marketing.",
        )
    return redirect("klaviyo_sandbox:account", account_id=account.id)


@operator_only
@require_POST
def suppression_remove(request: HttpRequest, pk: str) -> HttpResponse:
    profile = _get(Profile.objects.using(DATABASE), pk=pk)
    suppression.profile_unsuppress(profile=profile)
    messages.success(request, f"{profile.email} is no longer suppressed.")
    return redirect("klaviyo_sandbox:account", account_id=profile.account_id)


@operator_only
def flow_list(request: HttpRequest, account_id: str) -> HttpResponse:
    seed.sandbox_seed()
    account = _get(Account.objects.using(DATABASE), id=account_id)
    jobs.jobs_catch_up(account=account)  # metrics made by due events are offered as triggers
    return _flow_page(request, account, FlowForm(account=account))


def _flow_page(request: HttpRequest, account: Account, form: FlowForm) -> HttpResponse:
    context = {
        "account": account,
        "flows": flows.flows_for_account(account=account).order_by("name", "id"),
        "form": form,
        "flow_messages": flows.flow_messages(account=account)[:FLOW_MESSAGES_PAGE],
        "messages_limit": FLOW_MESSAGES_PAGE,
    }
    return render(request, "klaviyo_sandbox/flows.html", context)


@operator_only
@require_POST
def flow_create(request: HttpRequest, account_id: str) -> HttpResponse:
    account = _get(Account.objects.using(DATABASE), id=account_id)
    form = FlowForm(request.POST, account=account)
    if not form.is_valid():
        return _flow_page(request, account, form)
    flow = flows.flow_create(account=account, **form.cleaned_data)
    messages.success(request, f"Flow {flow.name} created ({flow.get_status_display().lower()}).")
    return redirect("klaviyo_sandbox:flows", account_id=account.id)


@operator_only
@require_POST
def flow_status(request: HttpRequest, pk: str) -> HttpResponse:
    flow = _get(Flow.objects.using(DATABASE), pk=pk)
    form = FlowStatusForm(request.POST)
    if form.is_valid():
        flows.flow_set_status(flow=flow, status=form.cleaned_data["status"])
        messages.success(request, f"Flow {flow.name} is now {flow.get_status_display().lower()}.")
    else:
        messages.error(request, "Choose live, draft or manual.")
    return redirect("klaviyo_sandbox:flows", account_id=flow.account_id)


@operator_only
@require_POST
def installation_uninstall(request: HttpRequest, pk: int) -> HttpResponse:
    installation = _get(Installation.objects.using(DATABASE), pk=pk)
    oauth.installation_uninstall(installation=installation)
    messages.success(
        request, "App uninstalled: its tokens are revoked, so the next refresh is invalid_grant."
    )
    return redirect("klaviyo_sandbox:account", account_id=installation.account_id)


@operator_only
@require_POST
def installation_expire_access_tokens(request: HttpRequest, pk: int) -> HttpResponse:
    installation = _get(Installation.objects.using(DATABASE), pk=pk)
    count = oauth.installation_expire_access_tokens(installation=installation)
    messages.success(request, f"Expired {count} access token(s): the next API call gets a 401.")
    return redirect("klaviyo_sandbox:account", account_id=installation.account_id)


@operator_only
@require_POST
def fault_start(request: HttpRequest) -> HttpResponse:
    form = FaultForm(request.POST)
    if form.is_valid():
        fault = faults.fault_start(
            kind=form.cleaned_data["kind"],
            seconds=form.cleaned_data["seconds"],
            delay_seconds=form.cleaned_data["delay_seconds"] or 0,
        )
        messages.success(
            request, f"{fault.get_kind_display()} for {form.cleaned_data['seconds']} s."
        )
    else:
        messages.error(request, "Choose a fault and a duration between 1 and 3600 seconds.")
    return redirect("klaviyo_sandbox:root")


@operator_only
@require_POST
def fault_clear(request: HttpRequest) -> HttpResponse:
    faults.fault_clear()
    messages.success(request, "All faults cleared.")
    return redirect("klaviyo_sandbox:root")


@operator_only
def call_log(request: HttpRequest) -> HttpResponse:
    calls = CallLog.objects.using(DATABASE).all()[:CALL_LOG_PAGE]
    return render(request, "klaviyo_sandbox/calls.html", {"calls": calls, "limit": CALL_LOG_PAGE})
