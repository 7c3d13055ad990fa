"""Organization time zones: IANA names, validated against the zone database this machine has.

Every time an organizer sees or enters (party start, attendee times, CSV exports) is in their
organization's zone; the public signup page shows a party in its organization's zone.
"""

from __future__ import annotations

import logging
import zoneinfo
from functools import cache
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError

logger = logging.getLogger(__name__)

DEFAULT_TIME_ZONE = "UTC"


@cache
def time_zone_names() -> frozenset[str]:
    # UTC always: a machine without the zone database (no tzdata) still has it.
    return frozenset(zoneinfo.available_timezones()) | {DEFAULT_TIME_ZONE}


def time_zone_choices() -> list[tuple[str, str]]:
    """(value, label) pairs for a select: UTC first, then every zone by name."""
    names = sorted(time_zone_names() - {DEFAULT_TIME_ZONE})
    return [(DEFAULT_TIME_ZONE, DEFAULT_TIME_ZONE), *((name, name) for name in names)]


def is_time_zone(name: object) -> bool:
    return isinstance(name, str) and name in time_zone_names()


def validate_time_zone(value: str) -> None:
    if not is_time_zone(value):
        raise ValidationError(
            "Choose a time zone from the list, such as Europe/Paris or America/Denver.",
            code="invalid_time_zone",
        )


def zone_for(name: str) -> ZoneInfo:
    """The zone named `name`, or UTC if this machine does not know it (never an error page)."""
    try:
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        logger.warning("Unknown time zone %r: showing times in UTC", name)
        return ZoneInfo(DEFAULT_TIME_ZONE)
