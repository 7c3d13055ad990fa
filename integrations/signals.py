"""Notifications other apps may act on, so integrations need not know about them."""

from django.dispatch import Signal

# Sent (after commit) when a connection becomes usable again: connected or reconnected.
# Arguments: connection.
connection_activated = Signal()
