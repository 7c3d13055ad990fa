"""Notifications other apps may act on, so accounts need not know about them."""

from django.dispatch import Signal

# Sent (after commit) when an organization's time zone or its default reminder lead times
# change: the times of its parties' reminders move with them.
# Arguments: organization (as saved).
organization_schedule_changed = Signal()
