"""Notifications other apps may act on, so accounts need not know about them."""

from typing import cast

from django.dispatch import Signal

from accounts.models import Organization

# Sent (after commit) when an organization's time zone or its default reminder lead times
# change: the times of its parties' reminders move with them.
# Arguments: organization (as saved).
organization_schedule_changed = Signal()

# Sent when an owner turns on Klaviyo deletion, to learn what stands in its way: each receiver
# answers the names of what must be reconnected before erasing a person can ask Klaviyo to
# delete their profile (integrations: the connections not granted `data-privacy:write`).
# Arguments: organization. Ask through `klaviyo_deletion_reconnects`.
klaviyo_deletion_reconnects_asked = Signal()


def klaviyo_deletion_reconnects(*, organization: Organization) -> list[str]:
    """What the organization must reconnect, by name, for Klaviyo deletion to work."""
    answers = klaviyo_deletion_reconnects_asked.send(sender=Organization, organization=organization)
    # django-stubs types a receiver's answer as `str | None`; these receivers answer lists.
    return [name for _, names in answers for name in cast(list[str], names)]
