"""Every row an organization owns, found from the models themselves, and an organization with
a row in each of them.

A model is the organization's when it has a foreign key to Organization, directly or through
another of the organization's models (a party, a Klaviyo connection, an attendee): a model
added later is checked without a change here. Rows are collected by primary key before a
deletion, so a row left behind is found even when its parent is gone (inside a test's
transaction, foreign keys are checked only at the commit that never comes).
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

from django.apps import apps
from django.db.models import Model

from accounts import services as account_services
from accounts.models import Membership, Organization, Role
from door import services as door_services
from integrations import attempts
from integrations.models import ConnectionEvent, EventKind, KlaviyoConnection
from parties import services as party_services
from parties.models import Party, Reconciliation
from privacy import services as privacy_services
from tests.support.parties import PARTY
from tests.support.signups import signup

# Deep enough for the longest chain (an attendee's event: attendee -> party -> organization).
MAX_DEPTH = 4


def owned_models() -> dict[type[Model], list[str]]:
    """Each model an organization owns, with the lookups from it to the organization's id."""
    lookups: dict[type[Model], list[str]] = {Organization: ["pk"]}
    changed = True
    while changed:
        changed = False
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                target = field.related_model
                if not field.many_to_one and not field.one_to_one:
                    continue
                if target is model or target not in lookups:
                    continue
                for path in lookups[target]:  # type: ignore[index]
                    lookup = field.name if path == "pk" else f"{field.name}__{path}"
                    known = lookups.setdefault(model, [])
                    if lookup.count("__") < MAX_DEPTH and lookup not in known:
                        known.append(lookup)
                        changed = True
    return lookups


def rows_of(organization_id: int) -> dict[str, set[object]]:
    """The primary keys of the organization's rows, by model label (every owned model named,
    with an empty set when it has none)."""
    return {
        model._meta.label: {
            pk
            for lookup in lookups
            for pk in model._default_manager.filter(**{lookup: organization_id}).values_list(
                "pk", flat=True
            )
        }
        for model, lookups in owned_models().items()
    }


def still_there(rows: dict[str, set[object]]) -> dict[str, set[object]]:
    """Those of `rows` still in the database, by model label (empty when none remains)."""
    remaining = {}
    for label, pks in rows.items():
        model = apps.get_model(label)
        left = set(model._default_manager.filter(pk__in=pks).values_list("pk", flat=True))
        if left:
            remaining[label] = left
    return remaining


def fill_organization(
    owner: Membership,
    connection: KlaviyoConnection,
    make_member: Callable[..., Membership],
    *,
    attendees: int = 2,
) -> Party:
    """Give the owner's organization a row of every kind it can own: a party with attendees,
    their events and moments, a check-in at the door, a consent wording and a reconciliation;
    the connection's audit events, event sender and connect attempts; another member with an
    API token; an invite; a personal-data request with its Klaviyo deletion.
    Returns the party."""
    organization = owner.organization
    party = party_services.party_create(membership=owner, connection=connection, data=PARTY)
    guests = [
        signup(party, email=f"guest{number}@example.com", first_name="Zelda", pet_name="Rex")
        for number in range(attendees)
    ]
    # The first guest checked in at the door.
    door_services.checkin_record(
        party=party, membership=owner, client_id=uuid4(), attendee_id=guests[0].pk
    )
    Reconciliation.objects.create(party=party, requested_by=owner.user)
    ConnectionEvent.objects.create(
        organization=organization, connection=connection, kind=EventKind.CONNECTED
    )
    for reconnect in (None, connection):
        attempts.attempt_start(
            membership=owner,
            redirect_uri="https://partyline.example/oauth/klaviyo/callback",
            browser_nonce="nonce",
            reconnect=reconnect,
        )
    colleague = make_member(role=Role.MEMBER, organization=organization)
    account_services.api_token_create(membership=colleague, name="Reports")
    account_services.invite_create(
        organization=organization, email="new@example.com", role=Role.MEMBER, invited_by=owner
    )
    # A personal-data request, and the Klaviyo deletion it asked for.
    privacy_services.klaviyo_deletion_request(
        organization=organization,
        email="guest0@example.com",
        actor=owner.user,
        connection_ids={connection.pk},
    )
    return party
