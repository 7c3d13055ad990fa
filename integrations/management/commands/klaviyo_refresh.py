"""Refresh a connection's access token now (through the single-flight token door)."""

from django.core.management.base import CommandError

from integrations import tokens
from integrations.errors import CONNECTION_FAILURES
from integrations.management.commands._connection_command import ConnectionCommand


class Command(ConnectionCommand):
    help = "Refresh the access token of a Klaviyo connection."

    def handle(self, *args: object, connection_id: int, **options: object) -> None:
        connection = self.get_connection(connection_id)
        try:
            tokens.refresh_now(connection=connection)
        except CONNECTION_FAILURES as error:
            raise CommandError(str(error)) from None
        connection.refresh_from_db()
        expires = f"{connection.access_token_expires_at:%Y-%m-%d %H:%M:%S %Z}"
        self.stdout.write(
            self.style.SUCCESS(f"Refreshed; the new access token expires at {expires}.")
        )
