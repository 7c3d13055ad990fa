"""The attendee outbox engine: a party's signups into its Klaviyo list (or, waitlisted,
only into Klaviyo; cancelled, out of the list again), truthfully.

Attendees are the outbox. A party's sync runs under a lease on the party row, so one worker
at a time works on a party, and it never holds a transaction across a call to Klaviyo. It is
built from the parts every outbox shares (`core.leases`, `core.outbox`, `core.backoff`, the
per-account rate budget of `integrations.budgets`), one module per job:

- `run`: one run (lease, list, send, read back) and when the party next needs one;
- `gates`: the party's lease and send gate, and recovering a dead run's claims;
- `lists`: the party's list, created once or renamed;
- `send`: claim a batch, one call of each kind its places need, the window rule;
- `verify`: follow jobs, verify membership and consent, never holding back sending;
- `outcomes`: the run's report, and what each failure means for the party;
- `sweep`: the safety net that re-plans anything a lost task left waiting;
- `config`: the engine's settings as one frozen value.

The engine decides and records; `parties.tasks` owns the queue and schedules the next run
from the `SyncReport`.
"""

from parties.sync.run import party_sync
from parties.sync.sweep import sync_sweep

__all__ = ["party_sync", "sync_sweep"]
