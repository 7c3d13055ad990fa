from django.apps import AppConfig


class PartiesConfig(AppConfig):
    """Parties, their public signup forms and the attendee sync to Klaviyo lists."""

    name = "parties"
    verbose_name = "Parties and attendees"

    def ready(self) -> None:
        from integrations.pipelines import pipeline_register
        from integrations.signals import connection_activated
        from parties.receivers import attendee_pipeline, resume_parties

        connection_activated.connect(resume_parties, dispatch_uid="parties.resume_parties")
        # Integrations shows this work in each connection's health without importing parties.
        pipeline_register(attendee_pipeline())
