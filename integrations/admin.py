"""Operator views of connections. Tokens are never shown: only whether they are present."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from accounts.tenancy import AuthenticatedRequest
from integrations import selectors, services, tokens
from integrations.errors import CONNECTION_FAILURES
from integrations.fields import SecretDecryptionError
from integrations.models import ConnectionEvent, KlaviyoConnection, OAuthState
from integrations.refresh_budget import REFRESH_BUDGET

if TYPE_CHECKING:
    from integrations.selectors import ConnectionWithHealth


# Each admin's form fields, all read-only but a connection's label. Named outside the classes
# so their type stays a tuple of names (the stubs type `fields` as groups of names).
EVENT_FIELDS = ("created_at", "kind", "actor", "reason")
# The token columns are excluded from every form: an operator sees presence, never value.
CONNECTION_FIELDS = (
    "organization",
    "klaviyo_account_id",
    "public_api_key",
    "klaviyo_organization_name",
    "label",
    "status",
    "scopes",
    "access_token_present",
    "refresh_token_present",
    "access_token_expires_at",
    "connected_by",
    "connected_at",
    "last_refreshed_at",
    "last_successful_call_at",
    "last_error",
    "last_error_at",
    "refresh_lease_expires_at",
    "shared_with_organizations",
    "api_revision",
)
# The verifier and browser nonce are never shown.
OAUTH_STATE_FIELDS = (
    "user",
    "organization",
    "label",
    "reconnect",
    "redirect_uri",
    "created_at",
    "expires_at",
    "used_at",
)


class ConnectionEventInline(admin.TabularInline):
    model = ConnectionEvent
    fields = readonly_fields = EVENT_FIELDS
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-created_at"]


class SharedAccountFilter(admin.SimpleListFilter):
    """Connections whose Klaviyo account another organization has connected too (allowed, but
    the two share Klaviyo's rate limits, and one's revoke may uninstall the other's app)."""

    title = "Klaviyo account shared with another organization"
    parameter_name = "shared_account"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ConnectionWithHealth]
    ) -> QuerySet[ConnectionWithHealth]:
        # `shared_with` is annotated by the admin's queryset (selectors.connections_with_health).
        if self.value() == "yes":
            return queryset.filter(shared_with__gt=0)
        if self.value() == "no":
            return queryset.filter(shared_with=0)
        return queryset


@admin.register(KlaviyoConnection)
class KlaviyoConnectionAdmin(admin.ModelAdmin):
    # Health at a glance; every column comes from the one changelist query (no query per row).
    list_display = [
        "__str__",
        "organization",
        "status",
        "shared_account",
        "last_successful_call_at",
        "last_refreshed_at",
        "failures_24h",
        "refresh_budget",
        "work_waiting",
        "access_token_expires_at",
        "last_error",
    ]
    list_filter = ["status", SharedAccountFilter, "organization"]
    search_fields = [
        "klaviyo_organization_name",
        "klaviyo_account_id",
        "organization__name",
        "label",
    ]
    list_select_related = ["organization"]
    fields = CONNECTION_FIELDS
    readonly_fields = [field for field in CONNECTION_FIELDS if field != "label"]
    inlines = [ConnectionEventInline]
    actions = ["refresh_token_now", "revoke_and_disconnect"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConnectionWithHealth]:
        return selectors.connections_with_health(super().get_queryset(request))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request, {"subtitle": _revision_text(), **(extra_context or {})}
        )

    @admin.display(description="Shared account", ordering="shared_with")
    def shared_account(self, connection: ConnectionWithHealth) -> str | None:
        count = connection.shared_with
        if not count:
            return None
        return format_html(
            "<strong>Shared with {} other organization{}</strong>",
            count,
            "" if count == 1 else "s",
        )

    @admin.display(description="Failures (24 h)", ordering="failures_24h")
    def failures_24h(self, connection: ConnectionWithHealth) -> int:
        return connection.failures_24h

    @admin.display(description="Refresh budget (this minute)", ordering="refresh_budget_used")
    def refresh_budget(self, connection: ConnectionWithHealth) -> str:
        return f"{connection.refresh_budget_used} of {REFRESH_BUDGET}"

    @admin.display(description="Waiting to reach Klaviyo", ordering="work_waiting")
    def work_waiting(self, connection: ConnectionWithHealth) -> int:
        return connection.work_waiting

    @admin.display(description="Same Klaviyo account connected by")
    def shared_with_organizations(self, connection: KlaviyoConnection) -> str:
        names = [
            organization.name
            for organization in selectors.organizations_sharing_account(connection=connection)
        ]
        return ", ".join(names) if names else "no other organization"

    @admin.display(description="Klaviyo API revision")
    def api_revision(self, connection: KlaviyoConnection) -> str:
        return _revision_text()

    @admin.display(boolean=True, description="Access token")
    def access_token_present(self, connection: KlaviyoConnection) -> bool:
        return connection.has_access_token

    @admin.display(boolean=True, description="Refresh token")
    def refresh_token_present(self, connection: KlaviyoConnection) -> bool:
        return connection.has_refresh_token

    @admin.action(description="Refresh token now")
    def refresh_token_now(
        self, request: HttpRequest, queryset: QuerySet[KlaviyoConnection]
    ) -> None:
        for connection in queryset:
            try:
                tokens.refresh_now(connection=connection)
            except CONNECTION_FAILURES as error:
                self.message_user(request, f"{connection}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"{connection}: token refreshed.", messages.SUCCESS)

    @admin.action(description="Revoke and disconnect")
    def revoke_and_disconnect(
        self, request: AuthenticatedRequest, queryset: QuerySet[KlaviyoConnection]
    ) -> None:
        for connection in queryset:
            try:
                confirmed = services.connection_disconnect(
                    connection=connection, actor=request.user
                )
            except SecretDecryptionError as error:
                self.message_user(request, f"{connection}: {error}", messages.ERROR)
                continue
            if confirmed:
                self.message_user(
                    request, f"{connection}: revoked and disconnected.", messages.SUCCESS
                )
            else:
                self.message_user(
                    request,
                    f"{connection}: disconnected; Klaviyo did not confirm the revoke.",
                    messages.WARNING,
                )


def _revision_text() -> str:
    status = selectors.api_revision()
    text = f"Klaviyo API revision {status.revision} ({status.age_text})"
    if not status.is_valid or status.is_future:
        return f"{text}: fix KLAVIYO_REVISION (manage.py klaviyo_doctor says how)"
    if status.should_update:
        return (
            f"{text}: Klaviyo supports a revision for about two years, so it should be "
            "updated (KLAVIYO_REVISION; manage.py klaviyo_doctor says how)"
        )
    return text


@admin.register(OAuthState)
class OAuthStateAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "organization", "expires_at", "used_at"]
    list_filter = ["used_at"]
    fields = readonly_fields = OAUTH_STATE_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ConnectionEvent)
class ConnectionEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "connection", "organization", "kind", "actor", "reason"]
    list_filter = ["kind"]
    search_fields = ["connection__klaviyo_organization_name", "organization__name", "reason"]
    list_select_related = ["connection", "organization", "actor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
