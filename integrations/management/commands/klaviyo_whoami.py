"""Print the Klaviyo account behind a connection (GET /api/accounts through the token door)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations import services
from integrations.fields import SecretDecryptionError
from integrations.klaviyo.errors import KlaviyoError
from integrations.models import KlaviyoConnection
from integrations.tokens import ConnectionUnusable


class Command(BaseCommand):
    help = "Show the Klaviyo account of a connection."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection_id", type=int)

    def handle(self, *args: object, connection_id: int, **options: object) -> None:
        try:
            connection = KlaviyoConnection.objects.get(pk=connection_id)
        except KlaviyoConnection.DoesNotExist:
            raise CommandError(f"No Klaviyo connection with id {connection_id}.") from None
        try:
            account = services.klaviyo_client(connection=connection).get_account()
        except (KlaviyoError, ConnectionUnusable, SecretDecryptionError) as error:
            raise CommandError(str(error)) from None
        services.connection_record_success(connection=connection)
        attributes = account.get("attributes", {})
        contact = attributes.get("contact_information") or {}
        self.stdout.write(
            f"Klaviyo account {account['id']}\n"
            f"  organization:   {contact.get('organization_name', '')}\n"
            f"  public API key: {attributes.get('public_api_key', '')}\n"
            f"  sender:         {contact.get('default_sender_name', '')} "
            f"<{contact.get('default_sender_email', '')}>\n"
            f"  timezone:       {attributes.get('timezone', '')}\n"
            f"  test account:   {attributes.get('test_account')}\n"
        )
