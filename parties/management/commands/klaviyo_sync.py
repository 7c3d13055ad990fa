"""The attendee pipeline's safety net, by hand or on a schedule."""

from django.core.management.base import BaseCommand, CommandParser

from core.periodic import periodic_tasks_schedule
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

    def handle(self, *args: object, schedule: bool, verbosity: int, **options: object) -> None:
        # `-v 0` (what `make run` passes) prints only what found work: a sweep with nothing
        # to do, or a schedule already in place, is no news.
        report = tasks.sweep_now()
        if verbosity > 0 or report["reclaimed"] or report["parties_enqueued"]:
            self.stdout.write(
                f"Put back {report['reclaimed']} stuck attendees; enqueued "
                f"{report['parties_enqueued']} party syncs (signups, lists or checks waiting)."
            )
        if schedule:
            queued = tasks.schedule_sweep()
            if verbosity > 0:
                self.stdout.write(
                    "Periodic sweep queued." if queued else "Periodic sweep already queued."
                )
            queued = integration_tasks.schedule_keep_alive()
            if verbosity > 0:
                self.stdout.write(
                    "Connection keep-alive queued."
                    if queued
                    else "Connection keep-alive already queued."
                )
            # Every other app's periodic chain (the personal-data pass...), as registered.
            for name in periodic_tasks_schedule():
                if verbosity > 0:
                    self.stdout.write(f"Periodic task {name} queued.")
