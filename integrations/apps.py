from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Klaviyo connections: OAuth + PKCE, the encrypted token store and the Klaviyo client."""

    name = "integrations"
    verbose_name = "Klaviyo connections"

    def ready(self) -> None:
        from accounts.deletion import organization_part_register
        from accounts.signals import klaviyo_deletion_reconnects_asked
        from integrations import checks  # noqa: F401  (registers the system checks)
        from integrations.receivers import connections_part
        from integrations.selectors import deletion_reconnects

        # Deleting an organization revokes its connections without accounts importing them.
        organization_part_register(connections_part())
        # The organization settings page names the connections to reconnect without
        # importing integrations.
        klaviyo_deletion_reconnects_asked.connect(
            deletion_reconnects, dispatch_uid="integrations.deletion_reconnects"
        )
