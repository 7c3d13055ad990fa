from django.apps import AppConfig


class KlaviyoSandboxConfig(AppConfig):
    name = "klaviyo_sandbox"
    verbose_name = "Sandbox Klaviyo"

    def ready(self) -> None:
        from klaviyo_sandbox import checks  # noqa: F401  (registers the system checks)
