"""Re-encrypt every stored secret under the newest key, so the old keys can be removed."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.keys import DEFAULT_BATCH_SIZE, encrypted_values_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value (Klaviyo tokens, PKCE verifiers) under the newest key "
        "(SECRET_KEY with the first SALT_KEY), reading old values with SECRET_KEY_FALLBACKS "
        "and the other salts. Idempotent; safe while the site runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"rows read and rewritten per transaction (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would change; write nothing"
        )

    def handle(self, *args: object, batch_size: int, dry_run: bool, **options: object) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        report = encrypted_values_rotate(batch_size=batch_size, dry_run=dry_run)
        verb = "would be re-encrypted" if dry_run else "re-encrypted"
        for column in report.columns:
            self.stdout.write(
                f"{column.label}: {column.rotated} {verb}, {column.current} already under the "
                f"newest key, {column.unreadable} unreadable"
            )
            if column.unreadable:
                ids = ", ".join(str(pk) for pk in column.unreadable_ids[:50])
                more = " ..." if column.unreadable > 50 else ""
                self.stdout.write(
                    self.style.ERROR(
                        f"  no configured key can decrypt the rows with id {ids}{more}"
                    )
                )
        summary = (
            f"{report.rotated} {verb}, {report.current} already under the newest key, "
            f"{report.unreadable} unreadable."
        )
        if report.unreadable:
            raise CommandError(
                f"{summary} Keep every old key configured: the unreadable values were encrypted "
                "with a key that is not in SECRET_KEY, SECRET_KEY_FALLBACKS or SALT_KEY. Add "
                "it and run this again, or reconnect those Klaviyo connections (connect "
                "attempts expire by themselves)."
            )
        if dry_run:
            self.stdout.write(self.style.SUCCESS(f"Dry run: {summary} Nothing was written."))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"{summary} Every stored secret now opens with the newest key: the old keys can "
                "be removed from SECRET_KEY_FALLBACKS and SALT_KEY."
            )
        )
