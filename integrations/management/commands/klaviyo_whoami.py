"""Print the Klaviyo account behind a connection (GET /api/accounts through the token door)."""

from django.core.management.base import CommandError

from integrations import services
from integrations.clients import klaviyo_client
from integrations.errors import CONNECTION_FAILURES
from integrations.management.commands._connection_command import ConnectionCommand


class Command(ConnectionCommand):
    help = "Show the Klaviyo account of a connection."

    def handle(self, *args: object, connection_id: int, **options: object) -> None:
        connection = self.get_connection(connection_id)
        try:
            account = klaviyo_client(connection=connection).get_account()
        except CONNECTION_FAILURES as error:
            raise CommandError(str(error)) from None
        services.connection_record_success(connection=connection)
        self.stdout.write(
            f"Klaviyo account {account.id}\n"
            f"  organization:   {account.organization_name}\n"
            f"  public API key: {account.public_api_key}\n"
            f"  sender:         {account.default_sender_name} "
            f"<{account.default_sender_email}>\n"
            f"  timezone:       {account.timezone}\n"
            f"  test account:   {account.test_account}\n"
        )
