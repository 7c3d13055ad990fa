"""Klaviyo's refresh limit, held across processes: ten refreshes a minute per installation.

Each connection has `REFRESH_BUDGET` refresh slots (`RefreshSlot` rows). A refresh takes the
slot used longest ago, and only if that use is older than the window, with a conditional
UPDATE on its previous `used_at`: whoever loses a race looks again. A slot is therefore used
at most once per window, so no process, thread or code path can make more refreshes in any
sliding window than there are slots.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from integrations.models import RefreshSlot

# Klaviyo's refresh limit per installation: this many refreshes in any such window. The window
# has a second of margin for the difference between our clocks and Klaviyo's.
REFRESH_BUDGET = 10
REFRESH_BUDGET_WINDOW = timedelta(seconds=61)


def refresh_slot_take(*, connection_id: int) -> float:
    """Take one of the connection's refresh slots: 0.0 when taken, else the seconds until the
    oldest one frees up."""
    slots = RefreshSlot.objects.filter(connection_id=connection_id, number__lt=REFRESH_BUDGET)
    while True:
        now = timezone.now()
        oldest = slots.order_by(F("used_at").asc(nulls_first=True), "number").first()
        if oldest is None or (oldest.used_at is not None and slots.count() < REFRESH_BUDGET):
            RefreshSlot.objects.bulk_create(
                [
                    RefreshSlot(connection_id=connection_id, number=number)
                    for number in range(REFRESH_BUDGET)
                ],
                ignore_conflicts=True,
            )
            continue
        if oldest.used_at is not None and oldest.used_at > now - REFRESH_BUDGET_WINDOW:
            return (oldest.used_at + REFRESH_BUDGET_WINDOW - now).total_seconds()
        if slots.filter(pk=oldest.pk, used_at=oldest.used_at).update(used_at=now):
            return 0.0
