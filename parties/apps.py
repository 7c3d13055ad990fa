from django.apps import AppConfig


class PartiesConfig(AppConfig):
    """Parties, their public signup forms and the attendee sync to Klaviyo lists."""

    name = "parties"
    verbose_name = "Parties and attendees"

    def ready(self) -> None:
        from integrations.signals import connection_activated
        from parties.receivers import resume_parties

        connection_activated.connect(resume_parties, dispatch_uid="parties.resume_parties")
