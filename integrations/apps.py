from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Klaviyo connections: OAuth + PKCE, the encrypted token store and the Klaviyo client."""

    name = "integrations"
    verbose_name = "Klaviyo connections"

    def ready(self) -> None:
        from accounts.deletion import organization_part_register
        from integrations import checks  # noqa: F401  (registers the system checks)
        from integrations.receivers import connections_part

        # Deleting an organization revokes its connections without accounts importing them.
        organization_part_register(connections_part())
