"""Attendees written straight to the database (no form, no service, no Klaviyo call), many at
a time, each carrying what its state implies."""

from __future__ import annotations

from django.utils import timezone

from parties.models import Attendee, Party, SyncState

WITH_REASON = (SyncState.FAILED, SyncState.SUPPRESSED, SyncState.NOT_CONFIRMED)


def add_attendees(
    party: Party, count: int, *, states: tuple[str, ...] = (SyncState.SYNCED,)
) -> None:
    """`count` attendees bulk-inserted, their states taken in turn from `states`, each with
    what that state implies: a send time once sent, a time in the list once there, and
    Klaviyo's reason where Klaviyo gave one."""
    now = timezone.now()
    Attendee.objects.bulk_create(
        [
            Attendee(
                party=party,
                email=f"guest{number}@example.com",
                first_name="Guest",
                answers={"pet_name": "Rex"},
                consented_at=now,
                marketing_consent=True,
                sync_state=state,
                state_reason="Klaviyo's reason" if state in WITH_REASON else "",
                sent_at=None if state == SyncState.PENDING else now,
                synced_at=now if state == SyncState.SYNCED else None,
            )
            for number, state in ((n, states[n % len(states)]) for n in range(count))
        ],
        batch_size=1000,
    )
