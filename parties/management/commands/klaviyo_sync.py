"""The attendee pipeline's safety net, by hand or on a schedule."""

from django.core.management.base import BaseCommand, CommandParser

from integrations import tasks as integration_tasks
from parties import tasks


class Command(BaseCommand):
    help = (
        "Re-enqueue the sync of every party whose signups or list wait with no sync planned. "
        "With --schedule, also make sure the worker runs this sweep periodically, and the "
        "keep-alive pass that refreshes idle Klaviyo connections (hourly)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="Queue the periodic sweep and keep-alive (once; each re-enqueues itself).",
        )

    def handle(self, *args: object, schedule: bool, **options: object) -> None:
        report = tasks.sweep_now()
        self.stdout.write(
            f"Put back {report['reclaimed']} stuck attendees; enqueued "
            f"{report['parties_enqueued']} party syncs (signups, lists or checks waiting)."
        )
        if schedule:
            queued = tasks.schedule_sweep()
            self.stdout.write(
                "Periodic sweep queued." if queued else "Periodic sweep already queued."
            )
            queued = integration_tasks.schedule_keep_alive()
            self.stdout.write(
                "Connection keep-alive queued."
                if queued
                else "Connection keep-alive already queued."
            )
