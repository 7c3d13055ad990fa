"""The sandbox as tests use it: shortcuts past the browser, faults, the clock, the call log,
and a bridge that lets a `requests`-based client talk to the sandbox in-process.

    from klaviyo_sandbox import testing

    tokens = testing.install_app(account="AcmePt")
    with testing.route_requests_to_sandbox():
        ...  # the product's Klaviyo client, unchanged, against the sandbox
    assert testing.call_count("POST", "/api/profile-bulk-import-jobs") == 1

Tests that touch the sandbox need its database:
`@pytest.mark.django_db(databases=["default", "sandbox"])`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.test import Client, override_settings

from klaviyo_sandbox import clock, faults, oauth
from klaviyo_sandbox.flows import flow_create
from klaviyo_sandbox.flows import flow_messages as flow_messages_of
from klaviyo_sandbox.jobs import jobs_process_due
from klaviyo_sandbox.lists import list_create, membership_add
from klaviyo_sandbox.metrics import metric_for_event
from klaviyo_sandbox.models import (
    Account,
    CallLog,
    DeletionJob,
    FaultKind,
    Flow,
    FlowStatus,
    Installation,
    KlaviyoList,
    Membership,
    MembershipStatus,
    OptInProcess,
    Profile,
    SuppressionReason,
)
from klaviyo_sandbox.routers import DATABASE
from klaviyo_sandbox.seed import sandbox_seed
from klaviyo_sandbox.subscriptions import membership_confirm
from klaviyo_sandbox.suppression import profile_suppress, profile_unsuppress

DEFAULT_SCOPES = " ".join(oauth.APP_SCOPES)
ACME = "AcmePt"
BARK = "BarkCo"


@dataclass(frozen=True)
class InstalledApp:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str
    installation: Installation

    @property
    def account_id(self) -> str:
        return self.installation.account_id

    def headers(self, revision: str | None = None) -> dict[str, str]:
        """Request headers for the REST API, for `Client.get(..., headers=...)`."""
        return {
            "Authorization": f"Bearer {self.access_token}",
            "revision": revision or settings.KLAVIYO_REVISION,
            "Accept": "application/vnd.api+json",
        }


def _account(account: Account | str) -> Account:
    sandbox_seed()
    if isinstance(account, Account):
        return account
    return Account.objects.using(DATABASE).get(id=account)


def install_app(
    *, account: Account | str = ACME, scopes: str | list[str] | None = None
) -> InstalledApp:
    """Install the sandbox app as if the user had clicked Allow and the code was exchanged."""
    scope = " ".join(scopes) if isinstance(scopes, list) else (scopes or DEFAULT_SCOPES)
    installation = oauth.installation_install(
        account=_account(account), client_id=settings.SANDBOX_CLIENT_ID, scopes=scope
    )
    issued = oauth.tokens_issue(installation=installation, scopes=scope, code=None)
    return InstalledApp(
        issued.access_token, issued.refresh_token, issued.expires_in, scope, installation
    )


def authorization_code(
    *,
    code_challenge: str,
    redirect_uri: str,
    account: Account | str = ACME,
    scopes: str = DEFAULT_SCOPES,
) -> str:
    """A code as the consent page's Allow would issue it, for testing a callback directly."""
    request = oauth.AuthorizeRequest(
        client_id=settings.SANDBOX_CLIENT_ID,
        redirect_uri=redirect_uri,
        scopes=tuple(scopes.split()),
        state="",
        code_challenge=code_challenge,
        code_challenge_method="S256",
    )
    return oauth.authorization_code_issue(request=request, account=_account(account))


def create_list(
    *, account: Account | str = ACME, name: str = "Test list", double_opt_in: bool = False
) -> KlaviyoList:
    return list_create(
        account=_account(account),
        name=name,
        opt_in_process=OptInProcess.DOUBLE if double_opt_in else OptInProcess.SINGLE,
    )


def create_flow(
    *,
    account: Account | str = ACME,
    name: str = "Test flow",
    metric: str,
    status: str = FlowStatus.LIVE,
    filter_property: str = "",
    filter_value: str = "",
) -> Flow:
    """A flow triggered by the app's metric of that name (created if no event made it yet)."""
    owner = _account(account)
    return flow_create(
        account=owner,
        name=name,
        trigger_metric=metric_for_event(
            account=owner, name=metric, client_id=settings.SANDBOX_CLIENT_ID
        ),
        status=status,
        filter_property=filter_property,
        filter_value=filter_value,
    )


def flow_messages(*, account: Account | str = ACME) -> list[dict[str, Any]]:
    """The messages the account's live flows would have sent, oldest first: flow name,
    email, the event's metric and unique_id, and `skipped_for` (the profile's suppression,
    None when the message would have gone out)."""
    jobs_process_due()
    found = flow_messages_of(account=_account(account)).order_by("at", "id")
    return [
        {
            "flow": message.flow.name,
            "email": message.email,
            "metric": message.event.metric.name,
            "unique_id": message.event.unique_id,
            "skipped_for": message.skipped_for or None,
        }
        for message in found
    ]


def list_members(list_id: str, *, include_pending: bool = False) -> list[dict[str, Any]]:
    """The list's profiles as plain dicts: email, names, properties, consent, status.

    Like every reader here, it first applies the jobs that are due (a sync's import and
    subscribe jobs, at once with the test setting SANDBOX_JOB_SECONDS = 0).
    """
    jobs_process_due()
    memberships = Membership.objects.using(DATABASE).filter(list_id=list_id)
    if not include_pending:
        memberships = memberships.filter(status=MembershipStatus.MEMBER)
    return [
        {
            "id": m.profile.id,
            "email": m.profile.email,
            "first_name": m.profile.first_name,
            "last_name": m.profile.last_name,
            "properties": m.profile.properties,
            "consent": m.profile.email_consent,
            "custom_source": m.profile.email_custom_method_detail,
            "double_optin": m.profile.email_double_optin,
            "status": m.status,
        }
        for m in memberships.select_related("profile").order_by("pk")
    ]


def add_to_list(list_id: str, profile_id: str) -> None:
    """Make a profile a member of a list, as anything else in the account might (another
    app, an organizer in Klaviyo, a subscribe job run late)."""
    jobs_process_due()
    membership_add(
        klaviyo_list=KlaviyoList.objects.using(DATABASE).get(id=list_id),
        profile=Profile.objects.using(DATABASE).get(id=profile_id),
        status=MembershipStatus.MEMBER,
    )


def confirm_pending(list_id: str, email: str) -> None:
    """What the double opt-in email's link (the UI's Confirm button) does."""
    jobs_process_due()
    membership = (
        Membership.objects.using(DATABASE)
        .select_related("profile")
        .get(list_id=list_id, profile__email=email.lower(), status=MembershipStatus.PENDING)
    )
    membership_confirm(membership=membership)


def profile(email: str, *, account: Account | str = ACME) -> dict[str, Any] | None:
    """One profile's consent and suppression, found by email (None when there is none)."""
    jobs_process_due()
    found = (
        Profile.objects.using(DATABASE)
        .filter(account=_account(account), email=email.strip().lower())
        .first()
    )
    if found is None:
        return None
    return {
        "id": found.id,
        "email": found.email,
        "consent": found.email_consent,
        "suppression": found.email_suppression or None,
        "lists": sorted(found.memberships.values_list("list_id", flat=True)),
    }


def deletion_requests(*, account: Account | str = ACME) -> list[dict[str, Any]]:
    """The account's profile deletion requests (request_profile_deletion), oldest first: the
    identifier they named (`identifier`: email, phone_number or id, and its `value`) and how
    many profiles each deleted once applied (`deleted`; None while it waits)."""
    jobs_process_due()
    return [
        {"identifier": job.identifier, "value": job.value, "deleted": job.deleted_count}
        for job in DeletionJob.objects.using(DATABASE)
        .filter(account=_account(account))
        .order_by("created_at", "id")
    ]


def suppress(
    email: str, reason: str = SuppressionReason.HARD_BOUNCE, *, account: Account | str = ACME
) -> None:
    """Suppress an address for email marketing, creating its profile if there is none.

    The reasons are Klaviyo's: a bounce, an invalid address, a spam complaint, an unsubscribe
    (which also makes the consent UNSUBSCRIBED) or a manual suppression.
    """
    jobs_process_due()
    profile_suppress(account=_account(account), email=email, reason=reason)


def unsuppress(email: str, *, account: Account | str = ACME) -> None:
    """Lift the address's suppression (its consent stays as it is)."""
    jobs_process_due()
    found = Profile.objects.using(DATABASE).get(
        account=_account(account), email=email.strip().lower()
    )
    profile_unsuppress(profile=found)


# --- Faults and lifecycle ---------------------------------------------------------------


def start_outage(seconds: float) -> None:
    """Every token/revoke/API call answers 503 (with Retry-After) for `seconds`."""
    faults.fault_start(kind=FaultKind.OUTAGE, seconds=seconds)


def start_throttle_storm(seconds: float) -> None:
    """Every token/revoke/API call answers 429 throttled (with Retry-After) for `seconds`."""
    faults.fault_start(kind=FaultKind.THROTTLE, seconds=seconds)


def set_latency(seconds: float, *, duration: float = 3600) -> None:
    """Each token/revoke/API call waits `seconds` first (on a frozen clock: advances it)."""
    faults.fault_start(kind=FaultKind.LATENCY, seconds=duration, delay_seconds=seconds)


def clear_faults() -> None:
    faults.fault_clear()


def expire_access_tokens(installation: Installation | InstalledApp) -> int:
    if isinstance(installation, InstalledApp):
        installation = installation.installation
    return oauth.installation_expire_access_tokens(installation=installation)


def uninstall(installation: Installation | InstalledApp) -> None:
    """Uninstall from the account: API calls get 401 and refreshes `invalid_grant`."""
    if isinstance(installation, InstalledApp):
        installation = installation.installation
    oauth.installation_uninstall(installation=installation)


# --- Clock -----------------------------------------------------------------------------------


@contextmanager
def frozen_clock(at: datetime | None = None) -> Iterator[None]:
    """Freeze the sandbox's clock (codes, tokens, rate windows, faults); `advance()` moves it."""
    clock.freeze(at)
    try:
        yield
    finally:
        clock.reset()


def advance(seconds: float) -> None:
    clock.advance(seconds)


# --- Call log ------------------------------------------------------------------------------


def call_count(method: str, path_prefix: str, *, status: int | None = None) -> int:
    """Calls made, by method and path relative to the sandbox root (`/api/lists`)."""
    calls = CallLog.objects.using(DATABASE).filter(
        method=method.upper(), path__startswith=path_prefix
    )
    if status is not None:
        calls = calls.filter(status=status)
    return calls.count()


def calls() -> list[CallLog]:
    """Every logged call, oldest first."""
    return list(CallLog.objects.using(DATABASE).order_by("pk"))


def clear_calls() -> None:
    CallLog.objects.using(DATABASE).all().delete()


# --- requests -> the sandbox, in-process -------------------------------------------------------

_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS")
_HOP_BY_HOP = {"content-length", "connection", "host", "transfer-encoding"}


def _forward(client: Client, request: Any) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(request.url)
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in _HOP_BY_HOP and name.lower() != "content-type"
    }
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    path = f"{parts.path}?{parts.query}" if parts.query else parts.path
    response = client.generic(
        request.method,
        path,
        data=body,
        content_type=request.headers.get("Content-Type", ""),
        secure=parts.scheme == "https",
        headers=headers,
        SERVER_NAME=parts.hostname or "testserver",
        SERVER_PORT=str(parts.port or (443 if parts.scheme == "https" else 80)),
        HTTP_HOST=parts.netloc,
    )
    response_headers = {name: value for name, value in response.items()}
    return response.status_code, response_headers, response.content


@contextmanager
def route_requests_to_sandbox(base_url: str | None = None, *, mock: Any = None) -> Iterator[Any]:
    """Send `requests` calls for `base_url` (default KLAVIYO_BASE_URL) to the sandbox app.

    Uses the `responses` library: each request's method, path, query, headers and body go to
    Django's test Client, and its response comes back to `requests`, so a client written for
    Klaviyo runs unchanged with no server. `base_url`'s path must be where the sandbox is
    mounted in this project (/sandbox/klaviyo by default). Pass `mock` to add the routes to a
    `responses.RequestsMock` you already use; otherwise one is started and yielded.
    """
    import responses  # a test dependency: imported only when a test asks for the bridge

    base_url = (base_url or settings.KLAVIYO_BASE_URL).rstrip("/")
    host = urlsplit(base_url).hostname or ""
    client = Client()
    pattern = re.compile(rf"^{re.escape(base_url)}(/.*)?(\?.*)?$")

    def callback(request: Any) -> tuple[int, dict[str, str], bytes]:
        return _forward(client, request)

    def register(target: Any) -> None:
        for method in _METHODS:
            target.add_callback(method, pattern, callback=callback)

    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, host, "testserver"]):
        if mock is not None:
            register(mock)
            yield mock
            return
        with responses.RequestsMock(assert_all_requests_are_fired=False) as started:
            register(started)
            yield started
