"""Check-ins at the door: who came, when, who let them in, and whether it was undone."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

from parties.models import Attendee, Party


class CheckIn(models.Model):
    """A registered guest let in at the door, as one device sent it.

    A device makes `client_id` when the staff member taps (it may be offline), so however
    often the request is sent, the check-in is applied once; and at most one check-in stands
    (is not undone) per attendee, which the database holds: two devices letting in the same
    guest make one. An undo keeps the row (who came, then did not) with its own client id.
    Nothing personal of the guest is kept here beyond the attendee it points at.
    """

    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="check_ins")
    attendee = models.ForeignKey(Attendee, on_delete=models.CASCADE, related_name="check_ins")
    client_id = models.UUIDField(unique=True)
    # When the server recorded it; `device_time` is when the device did, if it was offline
    # then (the time shown, "checked in at 19:04", is the guest's arrival: `arrived_at`).
    checked_in_at = models.DateTimeField()
    device_time = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Shown as "by Ana", and kept when that account goes.
    checked_in_by_name = models.CharField(max_length=150)
    # Registered at the door and let in at once.
    walk_in = models.BooleanField(default=False)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    undo_client_id = models.UUIDField(unique=True, null=True, blank=True)
    # When its `Checked In to Party` was written to the events outbox, or found not to be
    # wanted (undone, the guest erased): once it has stood for the grace period (door.tasks).
    announced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["attendee"],
                condition=Q(undone_at__isnull=True),
                name="door_one_standing_check_in",
            ),
        ]
        indexes = [
            # The safety net's look for standing check-ins whose event was never decided.
            models.Index(
                fields=["checked_in_at"],
                name="door_checkin_unannounced",
                condition=Q(undone_at__isnull=True, announced_at__isnull=True),
            ),
            models.Index(fields=["party", "undone_at"], name="door_checkin_party"),
        ]
        ordering = ["-checked_in_at", "-pk"]

    def __str__(self) -> str:
        return f"Check-in of attendee {self.attendee_id} at {self.party}"

    @property
    def arrived_at(self) -> datetime:
        return self.device_time or self.checked_in_at

    @property
    def is_standing(self) -> bool:
        return self.undone_at is None
