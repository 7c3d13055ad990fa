"""Create the demo organizer on a development machine's first run, and print its login."""

import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import services
from accounts.models import User

DEMO_EMAIL = "demo@partyline.localhost"
DEMO_ORGANIZATION = "Demo Pet Parties"


class Command(BaseCommand):
    help = "Create a demo organizer (DEBUG only) and print its login."

    def add_arguments(self, parser: CommandParser) -> None:
        shown = parser.add_mutually_exclusive_group()
        shown.add_argument(
            "--show", action="store_true", help="Only print the login (`make demo-login`)."
        )
        shown.add_argument(
            "--quiet", action="store_true", help="Only create the organizer, print nothing."
        )

    def handle(self, *args: object, show: bool, quiet: bool, **options: object) -> None:
        if not settings.DEBUG:
            raise CommandError("The demo organizer is for development only (DEBUG is off).")
        credentials = Path(settings.BASE_DIR) / ".demo-credentials"
        if User.objects.filter(email=DEMO_EMAIL).exists():
            if credentials.exists():
                password = credentials.read_text().strip()
            else:
                password = "(set on first run; reset it with `manage.py changepassword`)"  # noqa: S105
        elif show:
            raise CommandError("There is no demo organizer yet: `make run` creates it.")
        else:
            password = secrets.token_urlsafe(12)
            services.user_signup(
                email=DEMO_EMAIL, password=password, organization_name=DEMO_ORGANIZATION
            )
            credentials.touch(mode=0o600)
            credentials.write_text(password)
        if quiet:
            return
        self.stdout.write(
            "\n"
            + self.style.SUCCESS("Demo organizer login")
            + f" (open {settings.SITE_URL}/)"
            + f"\n  email:    {DEMO_EMAIL}\n  password: {password}\n"
            + "  (`make demo-login` prints this again)\n"
            + f"Operators' admin: {settings.SITE_URL}/admin/ (staff only; make yourself an"
            + " operator with `.venv/bin/python manage.py createsuperuser`, README"
            + ' "For operators")\n'
        )
