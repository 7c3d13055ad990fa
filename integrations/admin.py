"""Operator views of connections. Tokens are never shown: only whether they are present."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations import services, tokens
from integrations.fields import SecretDecryptionError
from integrations.klaviyo.errors import KlaviyoError
from integrations.models import ConnectionEvent, KlaviyoConnection, OAuthState


class ConnectionEventInline(admin.TabularInline):
    model = ConnectionEvent
    fields = ["created_at", "kind", "actor", "reason"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-created_at"]


@admin.register(KlaviyoConnection)
class KlaviyoConnectionAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "organization",
        "status",
        "access_token_expires_at",
        "last_refreshed_at",
        "last_successful_call_at",
        "last_error",
    ]
    list_filter = ["status", "organization"]
    search_fields = [
        "klaviyo_organization_name",
        "klaviyo_account_id",
        "organization__name",
        "label",
    ]
    list_select_related = ["organization"]
    # The token columns are excluded from every form: an operator sees presence, never value.
    fields = [
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
    ]
    readonly_fields = [field for field in fields if field != "label"]
    inlines = [ConnectionEventInline]
    actions = ["refresh_token_now", "revoke_and_disconnect"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

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
            except (KlaviyoError, tokens.ConnectionUnusable, SecretDecryptionError) as error:
                self.message_user(request, f"{connection}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"{connection}: token refreshed.", messages.SUCCESS)

    @admin.action(description="Revoke and disconnect")
    def revoke_and_disconnect(
        self, request: HttpRequest, queryset: QuerySet[KlaviyoConnection]
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


@admin.register(OAuthState)
class OAuthStateAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "organization", "expires_at", "used_at"]
    list_filter = ["used_at"]
    # The verifier and browser nonce are never shown.
    fields = [
        "user",
        "organization",
        "label",
        "reconnect",
        "redirect_uri",
        "created_at",
        "expires_at",
        "used_at",
    ]
    readonly_fields = fields

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
