"""The sandbox accounts every fresh sandbox database starts with.

`seed_accounts()` takes the models it fills, so the data migration passes its historical ones;
`sandbox_seed()` (idempotent) gives a database emptied by a test flush them back on first use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from klaviyo_sandbox.models import Account, KlaviyoList
from klaviyo_sandbox.routers import DATABASE

SEED_CREATED = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

ACCOUNTS: list[dict[str, Any]] = [
    {
        "id": "AcmePt",
        "organization_name": "Acme Pets",
        "default_sender_name": "Acme Pets",
        "default_sender_email": "hello@acmepets.example",
        "website_url": "https://acmepets.example",
        "street_address": {
            "address1": "1 Main St",
            "address2": None,
            "city": "Boston",
            "region": "MA",
            "country": "US",
            "zip": "02110",
        },
        "industry": "Retail",
        "timezone": "US/Eastern",
        "preferred_currency": "USD",
        "locale": "en-US",
        "default_opt_in_process": "single_opt_in",
    },
    {
        "id": "BarkCo",
        "organization_name": "Bark & Co",
        "default_sender_name": "Bark & Co",
        "default_sender_email": "woof@barkandco.example",
        "website_url": "https://barkandco.example",
        "street_address": {
            "address1": "22 Kennel Road",
            "address2": "Unit 3",
            "city": "Leeds",
            "region": "West Yorkshire",
            "country": "GB",
            "zip": "LS1 4AP",
        },
        "industry": "Pet services",
        "timezone": "Europe/London",
        "preferred_currency": "GBP",
        "locale": "en-GB",
        "default_opt_in_process": "double_opt_in",
    },
]

# One list each, so a demo has something to look at before the product creates its own.
LISTS: list[dict[str, Any]] = [
    {
        "id": "AcmNws",
        "account_id": "AcmePt",
        "name": "Newsletter",
        "opt_in_process": "single_opt_in",
    },
    {"id": "BrkVip", "account_id": "BarkCo", "name": "VIP pack", "opt_in_process": "double_opt_in"},
]


def seed_accounts(account_model: Any, list_model: Any, using: str) -> None:
    """Create the seed accounts and lists that are missing; never touch existing rows."""
    for account in ACCOUNTS:
        account_model.objects.using(using).get_or_create(
            id=account["id"], defaults={**account, "created": SEED_CREATED}
        )
    for klaviyo_list in LISTS:
        list_model.objects.using(using).get_or_create(
            id=klaviyo_list["id"],
            defaults={**klaviyo_list, "created": SEED_CREATED, "updated": SEED_CREATED},
        )


def sandbox_seed() -> None:
    """The seed accounts, created if missing (after a test flush, say)."""
    seed_accounts(Account, KlaviyoList, using=DATABASE)
