"""What every scenario starts from, made as a user makes it: an organizer (a real signup), a
Klaviyo connection to an installation in the sandbox, and parties whose Klaviyo list exists.

Django is set up by the caller (`bench.quick`, `python -m bench`) before any of these runs,
so the project's modules are imported inside the functions.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.models import Membership
    from integrations.models import KlaviyoConnection
    from parties.models import Party

# Every bench organizer's; pages.py logs in with it over HTTP.
PASSWORD = "bench-password-not-used-1"  # noqa: S105 (a throwaway organizer's)


def organizer_with_connection(*, name: str, account: str) -> tuple[Membership, KlaviyoConnection]:
    """A new organizer (its membership) and its connection to a fresh sandbox installation
    in `account` (klaviyo_sandbox.testing.ACME, BARK)."""
    from django.utils import timezone

    from accounts import services as accounts_services
    from accounts.models import Membership
    from integrations.models import KlaviyoConnection
    from klaviyo_sandbox import testing

    user = accounts_services.user_signup(
        email=f"{name.lower()}{time.time_ns()}@example.com",
        password=PASSWORD,
        organization_name=name,
    )
    membership = Membership.objects.get(user=user)
    app = testing.install_app(account=account)
    connection = KlaviyoConnection.objects.create(
        organization=membership.organization,
        klaviyo_account_id=app.account_id,
        scopes=app.scope.split(),
        access_token=app.access_token,
        refresh_token=app.refresh_token,
        access_token_expires_at=timezone.now() + timedelta(seconds=app.expires_in),
    )
    return membership, connection


def make_party(name: str, *, capacity: int | None = None, waitlist: bool = True) -> Party:
    """A new organizer, connected to the sandbox's ACME account, and its party with its list;
    `capacity` places (None: no limit), then the waitlist unless `waitlist` is False."""
    from klaviyo_sandbox import testing

    membership, connection = organizer_with_connection(name="Bench", account=testing.ACME)
    return party_with_list(
        membership=membership,
        connection=connection,
        name=name,
        capacity=capacity,
        waitlist=waitlist,
    )


def party_with_list(
    *,
    membership: Membership,
    connection: KlaviyoConnection,
    name: str,
    capacity: int | None = None,
    waitlist: bool = True,
) -> Party:
    """A party of the organizer's on that connection, its Klaviyo list created (its first
    sync run) and read back, so every scenario starts alike. `capacity` and `waitlist` as
    the organizer sets them on the party form."""
    from django.utils import timezone

    from parties import services, sync

    party = services.party_create(
        membership=membership,
        connection=connection,
        data={
            "name": f"Benchmark: {name}",
            "starts_at": timezone.now() + timedelta(days=1),
            "address": "1 Main St",
            "city": "Boston",
            "state": "MA",
            "capacity": capacity,
            "waitlist_enabled": waitlist,
        },
    )
    sync.party_sync(party_id=party.pk)
    party.refresh_from_db()  # the list id the sync run saved
    return party
