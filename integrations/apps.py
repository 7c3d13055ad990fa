from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Klaviyo connections: OAuth + PKCE, the encrypted token store and the Klaviyo client."""

    name = "integrations"
    verbose_name = "Klaviyo connections"

    def ready(self) -> None:
        from integrations import checks  # noqa: F401  (registers the system checks)
