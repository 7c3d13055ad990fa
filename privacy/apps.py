from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Personal data as the law expects: erasure, export, retention, and their audit."""

    name = "privacy"
    verbose_name = "Personal data"

    def ready(self) -> None:
        from core.periodic import PeriodicTask, periodic_task_register
        from privacy.tasks import privacy_sweep

        # `manage.py klaviyo_doctor` checks a worker keeps it queued; `klaviyo_sync
        # --schedule` (what `make run` and deployments run) queues it.
        periodic_task_register(
            PeriodicTask(
                name="privacy",
                title="Personal-data pass",
                task_path=privacy_sweep.module_path,
                missing="no personal-data pass is queued, so retention limits are not applied "
                "and erased people's addresses are kept until one runs",
                schedule="manage.py klaviyo_sync --schedule",
            )
        )
