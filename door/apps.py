from django.apps import AppConfig


class DoorConfig(AppConfig):
    """Check-in at the door: door staff, the check-in page that works offline, walk-ins."""

    name = "door"
    verbose_name = "Check-in at the door"

    def ready(self) -> None:
        from core.periodic import PeriodicTask, periodic_task_register
        from door.selectors import attendance_source
        from door.tasks import door_sweep
        from parties.attendance import attendance_register

        # The party pages, the CSV and `Party Ended` read who came through parties'
        # registry: parties never imports the door.
        attendance_register(attendance_source())
        # `manage.py klaviyo_doctor` checks a worker keeps it queued; `klaviyo_sync
        # --schedule` (what `make run` and deployments run) queues it.
        periodic_task_register(
            PeriodicTask(
                name="door",
                title="Door pass",
                task_path=door_sweep.module_path,
                missing="no door pass is queued, so a check-in whose own task was lost never "
                "sends its Checked In to Party event",
                schedule="manage.py klaviyo_sync --schedule",
            )
        )
