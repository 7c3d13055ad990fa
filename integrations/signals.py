"""Notifications other apps may act on, so integrations need not know about them."""

from django.dispatch import Signal

# Sent (after commit) when a connection becomes usable again, or usable for more: connected or
# reconnected (status active), or active and newly granted every event scope by a refresh, so
# its waiting lifecycle events may go (`integrations.scopes.events_missing_scopes`).
# Arguments: connection (as saved, with its granted scopes).
connection_activated = Signal()
