"""Check the Klaviyo configuration and what the pipeline needs; exit 1 if anything is wrong."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.doctor import Outcome, doctor_checks, doctor_run


class Command(BaseCommand):
    help = (
        "Check the Klaviyo configuration (credentials, redirect URI, scopes, API revision, "
        "site URL: the system checks tagged klaviyo), the database, the encryption keys, a "
        "live task worker and the periodic tasks. "
        "Prints each check with a fix; exits with status 1 if any check fails."
    )
    # The doctor runs the system checks itself and reports each with its fix, beside the
    # live checks, instead of stopping at the first system check error.
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        names = list(doctor_checks())
        parser.add_argument(
            "--skip",
            action="append",
            default=[],
            choices=names,
            metavar="CHECK",
            help=f"leave a check out (repeatable): {', '.join(names)}",
        )

    def handle(self, *args: object, skip: list[str], **options: object) -> None:
        styles = {
            Outcome.OK: self.style.SUCCESS,
            Outcome.WARN: self.style.WARNING,
            Outcome.FAIL: self.style.ERROR,
        }
        results = doctor_run(skip=skip)
        width = max((len(result.title) for result in results), default=0)
        for result in results:
            label = styles[result.outcome](f"{result.outcome.upper():<4}")
            self.stdout.write(f"{label}  {result.title:<{width}}  {result.detail}")
            if result.fix:
                self.stdout.write(f"      {'':<{width}}  Fix: {result.fix}")
        failed = [result.title for result in results if result.failed]
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(results)} checks failed: {', '.join(failed)}."
            )
        warned = sum(result.outcome == Outcome.WARN for result in results)
        summary = f"All {len(results)} checks passed"
        summary += f" ({warned} warning{'s' if warned != 1 else ''})." if warned else "."
        self.stdout.write(self.style.SUCCESS(summary))
