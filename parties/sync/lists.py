"""The party's Klaviyo list: created once (with the organizer's opt-in process) or renamed,
within the account's daily budget of new lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from core.wording import wait_text
from integrations.budgets import list_budget_message, list_budget_reopens_at
from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoError,
    KlaviyoNotFound,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
)
from integrations.klaviyo.records import KlaviyoList
from integrations.services import connection_record_success
from parties.models import ListState, Party
from parties.sync.config import sync_config
from parties.sync.outcomes import later, reason


@dataclass(frozen=True)
class ListResult:
    """Whether the list is in step with the party; if not, when to try again (None: only
    after the organizer changes something; the reason is on the party)."""

    ok: bool
    retry_at: datetime | None = None


def party_list_sync(*, party: Party, client: KlaviyoClient) -> ListResult:
    """Create the party's Klaviyo list, or rename it to the party's name (under the lease).

    Saves only the list's own fields, so an organizer's edit saved meanwhile is kept. A list
    is never asked for while today's new lists are all used in the Klaviyo account.
    """
    creating = not party.klaviyo_list_id
    if creating and (waiting := _wait_for_list_budget(party)):
        return waiting
    try:
        if party.klaviyo_list_id:
            klaviyo_list = client.update_list(list_id=party.klaviyo_list_id, name=party.name)
        else:
            klaviyo_list = _create_list_once(party, client)
    except KlaviyoRateLimited as error:
        if creating and (waiting := _wait_for_list_budget(party)):
            return waiting  # another worker took today's last one meanwhile
        wait = max(error.retry_after, 1.0)
        _list_state(
            party,
            ListState.PENDING,
            "Klaviyo is limiting list changes right now (at most 150 new lists a day); it "
            f"will be tried again automatically in about {wait_text(wait)}.",
        )
        return ListResult(ok=False, retry_at=later(wait))
    except (KlaviyoUnavailable, KlaviyoAuthError) as error:
        _list_state(party, ListState.PENDING, reason(error))
        return ListResult(ok=False, retry_at=later(sync_config().list_retry_seconds))
    except KlaviyoNotFound:
        # The list was deleted in Klaviyo: make a new one.
        Party.objects.filter(pk=party.pk).update(
            klaviyo_list_id="", klaviyo_list_name="", list_state=ListState.PENDING
        )
        party.klaviyo_list_id = ""
        return ListResult(ok=False, retry_at=timezone.now())
    except KlaviyoError as error:
        _list_state(party, ListState.FAILED, reason(error))
        return ListResult(ok=False)

    name = klaviyo_list.name or party.name
    Party.objects.filter(pk=party.pk).update(
        klaviyo_list_id=klaviyo_list.id,
        klaviyo_list_name=name[: Party.NAME_MAX_LENGTH],
        klaviyo_opt_in_process=klaviyo_list.opt_in_process,
        list_state=ListState.READY,
        list_error="",
        list_create_started_at=None,
    )
    connection_record_success(connection=party.connection)
    return ListResult(ok=True)


def _wait_for_list_budget(party: Party) -> ListResult | None:
    """If today's new lists are all used in the party's Klaviyo account, say so on the party
    and come back when the next day's budget opens (None: a list can be created now)."""
    reopens_at = list_budget_reopens_at(connection=party.connection)
    if reopens_at is None:
        return None
    _list_state(party, ListState.PENDING, list_budget_message(reopens_at=reopens_at))
    return ListResult(ok=False, retry_at=reopens_at)


def _create_list_once(party: Party, client: KlaviyoClient) -> KlaviyoList:
    if party.list_create_started_at is not None:
        # An earlier create may have reached Klaviyo without us hearing the answer.
        since = party.list_create_started_at - sync_config().clock_skew
        for candidate in reversed(client.find_lists(name=party.name)):
            if candidate.created is not None and candidate.created >= since:
                return candidate
    started = timezone.now()
    Party.objects.filter(pk=party.pk).update(list_create_started_at=started)
    party.list_create_started_at = started
    return client.create_list(name=party.name, opt_in_process=party.opt_in_process)


def _list_state(party: Party, state: str, why: str) -> None:
    Party.objects.filter(pk=party.pk).update(list_state=state, list_error=why[:500])
