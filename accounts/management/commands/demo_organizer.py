"""Create the demo organizer on a development machine's first run, and print its login."""

import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import User

DEMO_EMAIL = "demo@partyline.localhost"
DEMO_ORGANIZATION = "Demo Pet Parties"


class Command(BaseCommand):
    help = "Create a demo organizer (DEBUG only) and print its login."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG:
            raise CommandError("The demo organizer is for development only (DEBUG is off).")
        credentials = Path(settings.BASE_DIR) / ".demo-credentials"
        if User.objects.filter(email=DEMO_EMAIL).exists():
            if credentials.exists():
                password = credentials.read_text().strip()
            else:
                password = "(set on first run; reset it with `manage.py changepassword`)"  # noqa: S105
        else:
            password = secrets.token_urlsafe(12)
            services.user_signup(
                email=DEMO_EMAIL, password=password, organization_name=DEMO_ORGANIZATION
            )
            credentials.touch(mode=0o600)
            credentials.write_text(password)
        self.stdout.write(
            self.style.SUCCESS("Demo organizer login")
            + f"\n  email:    {DEMO_EMAIL}\n  password: {password}\n"
        )
