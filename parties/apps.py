from django.apps import AppConfig


class PartiesConfig(AppConfig):
    """Parties, their public signup forms and the attendee sync to Klaviyo lists."""

    name = "parties"
    verbose_name = "Parties and attendees"
