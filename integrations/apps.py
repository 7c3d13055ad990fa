from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Klaviyo connections: OAuth + PKCE, the encrypted token store and the Klaviyo client."""

    name = "integrations"
    verbose_name = "Klaviyo connections"
