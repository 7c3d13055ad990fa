"""Time passing for Klaviyo and the product at once, without waiting for it."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F
from django_tasks_db.models import DBTaskResult

from klaviyo_sandbox import testing
from parties.models import Attendee, EventSender, Party, PartyEvent


def let_time_pass(seconds: float) -> None:
    """Move time on for Klaviyo and for the product: the sandbox's clock advances, and every
    time the pipeline recorded (sends, checks, plans, send gates, queued tasks) moves that much
    into the past, so what was due in `seconds` is due now."""
    testing.advance(seconds)
    delta = timedelta(seconds=seconds)
    Attendee.objects.filter(sent_at__isnull=False).update(sent_at=F("sent_at") - delta)
    Attendee.objects.filter(checked_at__isnull=False).update(checked_at=F("checked_at") - delta)
    Party.objects.filter(next_send_at__isnull=False).update(next_send_at=F("next_send_at") - delta)
    Party.objects.filter(next_sync_at__isnull=False).update(next_sync_at=F("next_sync_at") - delta)
    for field in ("sent_at", "checked_at"):
        PartyEvent.objects.filter(**{f"{field}__isnull": False}).update(**{field: F(field) - delta})
    for field in ("next_send_at", "next_run_at", "flows_requested_at", "flows_read_at"):
        EventSender.objects.filter(**{f"{field}__isnull": False}).update(
            **{field: F(field) - delta}
        )
    DBTaskResult.objects.update(run_after=F("run_after") - delta)
