"""Refresh a connection's access token now (through the single-flight token door)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations import tokens
from integrations.fields import SecretDecryptionError
from integrations.klaviyo.errors import KlaviyoError
from integrations.models import KlaviyoConnection


class Command(BaseCommand):
    help = "Refresh the access token of a Klaviyo connection."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection_id", type=int)

    def handle(self, *args: object, connection_id: int, **options: object) -> None:
        try:
            connection = KlaviyoConnection.objects.get(pk=connection_id)
        except KlaviyoConnection.DoesNotExist:
            raise CommandError(f"No Klaviyo connection with id {connection_id}.") from None
        try:
            tokens.refresh_now(connection=connection)
        except (KlaviyoError, tokens.ConnectionUnusable, SecretDecryptionError) as error:
            raise CommandError(str(error)) from None
        connection.refresh_from_db()
        expires = f"{connection.access_token_expires_at:%Y-%m-%d %H:%M:%S %Z}"
        self.stdout.write(
            self.style.SUCCESS(f"Refreshed; the new access token expires at {expires}.")
        )
