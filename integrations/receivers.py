"""What integrations tells the layer below it: its connections, as an organization's deletion
sees them (`accounts.deletion`)."""

from collections.abc import Mapping

from accounts.deletion import OrganizationPart
from accounts.models import Organization
from integrations.models import ConnectionStatus, KlaviyoConnection
from integrations.tasks import connections_revoke_later


def connections_part() -> OrganizationPart:
    """The organization's Klaviyo connections: the live ones counted (those disconnected
    already are history), and each one's revoke queued. Every connection row, its audit
    events and connect attempts go with the organization's row (the cascade)."""
    return OrganizationPart(name="klaviyo_connections", count=_count, release=_release)


def _count(organization: Organization) -> Mapping[str, int]:
    live = KlaviyoConnection.objects.filter(organization=organization).exclude(
        status=ConnectionStatus.REVOKED
    )
    return {"connections": live.count()}


def _release(organization: Organization) -> Mapping[str, int]:
    connections_revoke_later(organization=organization)
    return {}
