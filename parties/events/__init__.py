"""The events outbox engine: what happens at each party, told to Klaviyo as events its flows
start from (confirmation, reminders, thank-you, cancellation).

Events are rows (`PartyEvent`) written in the transaction of the change that causes them, each
with a `unique_id` derived from the attendee, the action and its occurrence, so no resend can
make a second event in Klaviyo. They are sent per Klaviyo account (`EventSender`: every party
of the account shares its calls) under a lease, through a send gate that keeps the window
rule, within the account's rate budget; paused, never dropped, while the connection cannot be
used. It is built from the parts every outbox shares (`core.leases`, `core.outbox`,
`core.backoff`, the rate budget of `integrations.budgets`), one module per job:

- `catalogue`: the metric names and event properties (public interface);
- `record`: writing events in the caller's transaction;
- `schedule`: the party's moments (reminders, the end), planned and fired;
- `run`: one run of an account's sender (lease, send, read back) and when it next needs one;
- `gates`: the account's lease, send gate and run plan, and recovering a dead run's claims;
- `send`: claim a batch, one call, the window rule;
- `deliver`: read back what Klaviyo recorded ("delivered") or dropped;
- `outcomes`: the run's report, and what each failure means for the account;
- `sweep`: the safety net that re-plans anything a lost task left waiting;
- `config`: the engine's settings as one frozen value.

The engine decides and records; `parties.tasks` owns the queue and schedules the next run from
the `EventsReport`.
"""

from parties.events.run import events_send
from parties.events.sweep import events_sweep

__all__ = ["events_send", "events_sweep"]
