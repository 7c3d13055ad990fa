from django.apps import AppConfig


class PartiesConfig(AppConfig):
    """Parties, their public signup forms and the attendee sync to Klaviyo lists."""

    name = "parties"
    verbose_name = "Parties and attendees"

    def ready(self) -> None:
        from accounts.deletion import organization_part_register
        from accounts.signals import organization_schedule_changed
        from core.periodic import PeriodicTask, periodic_task_register
        from integrations.pipelines import pipeline_register
        from integrations.signals import connection_activated
        from parties.receivers import (
            attendee_pipeline,
            events_pipeline,
            parties_part,
            replan_moments,
            resume_parties,
        )
        from parties.tasks import sweep

        connection_activated.connect(resume_parties, dispatch_uid="parties.resume_parties")
        organization_schedule_changed.connect(replan_moments, dispatch_uid="parties.replan_moments")
        # Integrations shows this work in each connection's health without importing parties.
        pipeline_register(attendee_pipeline())
        pipeline_register(events_pipeline())
        # Deleting an organization deletes its parties without accounts importing them.
        organization_part_register(parties_part())
        # `manage.py klaviyo_doctor` checks that a worker keeps the sweep queued.
        periodic_task_register(
            PeriodicTask(
                name="sweep",
                title="Periodic sweep",
                task_path=sweep.module_path,
                missing="no periodic sweep is queued, so stuck or lost signups are never "
                "re-enqueued",
                schedule="Run manage.py klaviyo_sync --schedule (once; the sweep then queues "
                "itself).",
            )
        )
