"""System checks: the sandbox must never run beside real Klaviyo credentials, and says so
when it runs outside DEBUG."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.compatibility, deploy=False)
def sandbox_only_without_real_credentials(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Refuse the sandbox when real credentials are configured.

    Settings install the sandbox only in sandbox mode; this catches an INSTALLED_APPS edited by
    hand, which would otherwise put a fake Klaviyo (and its well-known client secret) next to
    a real one.
    """
    errors: list[Error] = []
    if not getattr(settings, "KLAVIYO_SANDBOX", False):
        errors.append(
            Error(
                "klaviyo_sandbox is installed while real Klaviyo credentials are configured.",
                hint="Remove klaviyo_sandbox from INSTALLED_APPS, or unset KLAVIYO_CLIENT_ID "
                "and set KLAVIYO_SANDBOX=true to run against the sandbox.",
                id="klaviyo_sandbox.E001",
            )
        )
    if "sandbox" not in settings.DATABASES:
        errors.append(
            Error(
                "klaviyo_sandbox needs its own database alias 'sandbox'.",
                hint="Set SANDBOX_DATABASE_URL (or leave it unset for a SQLite file).",
                id="klaviyo_sandbox.E002",
            )
        )
    if "klaviyo_sandbox.routers.SandboxRouter" not in settings.DATABASE_ROUTERS:
        errors.append(
            Error(
                "klaviyo_sandbox.routers.SandboxRouter is not in DATABASE_ROUTERS, so the "
                "sandbox's rows would land in the product's database.",
                id="klaviyo_sandbox.E003",
            )
        )
    return errors


@register(Tags.security)
def sandbox_outside_debug(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Say so whenever the sandbox runs with DEBUG off.

    Settings turn it on there only when KLAVIYO_SANDBOX=true asks for it by name (a demo);
    this warning keeps anyone from mistaking such a deployment for one that reaches Klaviyo.
    """
    if settings.DEBUG:
        return []
    return [
        Warning(
            "The sandbox Klaviyo is on with DEBUG off (KLAVIYO_SANDBOX=true): Partyline talks to "
            "a local stand-in, and nothing reaches Klaviyo.",
            hint="Its pages and operator actions need a staff login. To use Klaviyo, unset "
            "KLAVIYO_SANDBOX and set KLAVIYO_CLIENT_ID, KLAVIYO_CLIENT_SECRET and "
            "KLAVIYO_REDIRECT_URI.",
            id="klaviyo_sandbox.W001",
        )
    ]
