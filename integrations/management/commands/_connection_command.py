"""What the connection commands share: a connection id argument and clear errors."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.models import KlaviyoConnection


class ConnectionCommand(BaseCommand):
    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection_id", type=int)

    def get_connection(self, connection_id: int) -> KlaviyoConnection:
        try:
            return KlaviyoConnection.objects.get(pk=connection_id)
        except KlaviyoConnection.DoesNotExist:
            raise CommandError(f"No Klaviyo connection with id {connection_id}.") from None
