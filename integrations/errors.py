"""What can go wrong when work uses a Klaviyo connection, named once for every caller."""

from __future__ import annotations

from integrations.fields import SecretDecryptionError
from integrations.klaviyo.errors import KlaviyoError
from integrations.models import KlaviyoConnection


class ConnectionUnusable(Exception):
    """The connection cannot give out tokens until a person acts (reconnect or connect)."""

    def __init__(self, connection: KlaviyoConnection) -> None:
        super().__init__(
            f"Klaviyo connection {connection.pk} is {connection.get_status_display().lower()}."
        )
        self.connection_id = connection.pk
        self.status = connection.status


# Every way a call through a connection can fail that is not a bug: Klaviyo refused or did
# not answer, the connection needs a person (reconnect), or the server cannot read its own
# tokens (the operator must fix its keys). Callers that report a failure catch these.
CONNECTION_FAILURES: tuple[type[Exception], ...] = (
    KlaviyoError,
    ConnectionUnusable,
    SecretDecryptionError,
)
