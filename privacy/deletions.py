"""Asking a Klaviyo account to delete an erased person's profile, one request at a time."""

from __future__ import annotations

from django.utils import timezone

from integrations.clients import klaviyo_client
from integrations.errors import CONNECTION_FAILURES, ConnectionUnusable
from integrations.klaviyo.errors import (
    KlaviyoPermissionDenied,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
)
from privacy.models import KlaviyoDeletion

# Klaviyo not answering, throttling, or the connection waiting for its tokens: sent later.
DELETION_RETRY_SECONDS = 300
# After this many tries the address is dropped and the request stays unsent, said so.
DELETION_MAX_ATTEMPTS = 12


def klaviyo_deletion_send(*, deletion_id: int) -> float | None:
    """Send one deletion request. Returns in how many seconds to try again (None: done,
    sent or given up; either way the address is gone from the row)."""
    deletion = (
        KlaviyoDeletion.objects.select_related("connection")
        .filter(pk=deletion_id, sent_at__isnull=True, email__isnull=False)
        .first()
    )
    if deletion is None:  # sent already, or given up
        return None
    attempts = deletion.attempts + 1
    try:
        klaviyo_client(connection=deletion.connection).request_profile_deletion(
            email=str(deletion.email)
        )
    except (KlaviyoRateLimited, KlaviyoUnavailable, ConnectionUnusable) as error:
        if attempts < DELETION_MAX_ATTEMPTS:
            KlaviyoDeletion.objects.filter(pk=deletion.pk).update(
                attempts=attempts, error=f"Waiting to try again: {error}"[:500]
            )
            retry_after = getattr(error, "retry_after", None)
            return max(float(retry_after or 0), DELETION_RETRY_SECONDS)
        why = f"Klaviyo could not be asked after {attempts} tries: {error}"
    except CONNECTION_FAILURES as error:
        why = f"Klaviyo refused the request: {error}"
        if isinstance(error, KlaviyoPermissionDenied):
            why = (
                "Klaviyo refused: the connection lacks data-privacy:write. Reconnect it to "
                "grant the permission, then erase the person again with the option."
            )
    else:
        KlaviyoDeletion.objects.filter(pk=deletion.pk).update(
            email=None, sent_at=timezone.now(), attempts=attempts, error=""
        )
        return None
    KlaviyoDeletion.objects.filter(pk=deletion.pk).update(
        email=None, attempts=attempts, error=why[:500]
    )
    return None
