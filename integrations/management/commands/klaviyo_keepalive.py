"""Keep idle Klaviyo connections alive: by hand, or make sure the worker does it hourly."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from integrations import tasks


class Command(BaseCommand):
    help = (
        "Queue a token refresh, spread over the next hour or more, for every active Klaviyo "
        "connection not refreshed for KLAVIYO_KEEPALIVE_DAYS (Klaviyo revokes refresh tokens "
        "unused for 90 days). With --schedule, also make sure the worker repeats this hourly "
        "(`klaviyo_sync --schedule` does that too)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="Queue the hourly keep-alive task (once; it re-enqueues itself).",
        )

    def handle(self, *args: object, schedule: bool, **options: object) -> None:
        report = tasks.keep_alive_now()
        self.stdout.write(
            f"Queued {report['queued']} keep-alive refreshes of connections idle for more than "
            f"{settings.KLAVIYO_KEEPALIVE_DAYS} days ({report['already_queued']} already queued)."
        )
        if schedule:
            queued = tasks.schedule_keep_alive()
            self.stdout.write(
                "Connection keep-alive queued."
                if queued
                else "Connection keep-alive already queued."
            )
