"""Fixture factories shared by every test: users, organizations, memberships, logged-in clients,
connections, parties and attendees."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import Membership, Organization, Role, User
from accounts.tenancy import SESSION_KEY
from integrations.klaviyo.config import DEFAULT_SCOPES
from integrations.models import ConnectionStatus, KlaviyoConnection
from parties import services as party_services
from parties import sync
from parties.models import Attendee, EventSender, ListState, Party, SyncState
from parties.questions import starter_questions_add
from parties.search import search_words
from tests.support.accounts import PASSWORD
from tests.support.parties import PARTY

_sequence = itertools.count(1)


@pytest.fixture(autouse=True)
def clear_rate_limits() -> Iterator[None]:
    """Rate-limit counters live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(email: str | None = None, password: str = PASSWORD, **extra: object) -> User:
        return User.objects.create_user(
            email=email or f"user{next(_sequence)}@example.com", password=password, **extra
        )

    return make


@pytest.fixture
def make_org(db) -> Callable[..., Organization]:
    def make(name: str | None = None) -> Organization:
        return Organization.objects.create(name=name or f"Organization {next(_sequence)}")

    return make


@pytest.fixture
def make_member(make_user, make_org) -> Callable[..., Membership]:
    """A user in an organization with a role (both created unless given)."""

    def make(
        role: str = Role.OWNER,
        organization: Organization | None = None,
        user: User | None = None,
    ) -> Membership:
        return Membership.objects.create(
            user=user or make_user(), organization=organization or make_org(), role=role
        )

    return make


@pytest.fixture
def login() -> Callable[..., Client]:
    """A client logged in as the membership's user, acting for its organization."""

    def make(membership: Membership | User, client: Client | None = None) -> Client:
        client = client or Client()
        user = membership.user if isinstance(membership, Membership) else membership
        client.force_login(user)
        if isinstance(membership, Membership):
            session = client.session
            session[SESSION_KEY] = membership.organization_id
            session.save()
        return client

    return make


@pytest.fixture
def owner(make_member) -> Membership:
    return make_member(role=Role.OWNER)


@pytest.fixture
def make_connection(make_member) -> Callable[..., KlaviyoConnection]:
    """A Klaviyo connection with tokens, for an organization (created unless given)."""

    def make(
        organization: Organization | None = None,
        *,
        account_id: str | None = None,
        status: str = ConnectionStatus.ACTIVE,
        access_token: str = "access-token-1",
        refresh_token: str = "refresh-token-1",
        expires_in: int = 3600,
        scopes: list[str] | tuple[str, ...] = DEFAULT_SCOPES,
        **extra: object,
    ) -> KlaviyoConnection:
        organization = organization or make_member(role=Role.OWNER).organization
        number = next(_sequence)
        return KlaviyoConnection.objects.create(
            organization=organization,
            klaviyo_account_id=account_id or f"ACCT{number:02d}",
            public_api_key=account_id or f"ACCT{number:02d}",
            klaviyo_organization_name=f"Klaviyo Org {number}",
            status=status,
            scopes=list(scopes),
            access_token=access_token,
            refresh_token=refresh_token,
            access_token_expires_at=timezone.now() + timedelta(seconds=expires_in),
            **extra,
        )

    return make


@pytest.fixture
def make_party(make_connection) -> Callable[..., Party]:
    """A party whose Klaviyo list already exists (as far as the row says)."""

    def make(
        organization: Organization | None = None,
        *,
        connection: KlaviyoConnection | None = None,
        **fields: object,
    ) -> Party:
        connection = connection or make_connection(organization)
        number = next(_sequence)
        values = {
            "name": f"Party {number}",
            "starts_at": timezone.now() + timedelta(days=7),
            "address": "1 Bark Street",
            "city": "Boston",
            "state": "MA",
            "klaviyo_list_id": f"LIST{number}",
            "klaviyo_list_name": f"Party {number}",
            "list_state": ListState.READY,
            **fields,
        }
        # The account's event sender, as `services.party_create` makes it.
        EventSender.objects.get_or_create(connection=connection)
        party = Party.objects.create(
            organization=connection.organization, connection=connection, **values
        )
        # The questions every new party starts with, as `services.party_create` adds them.
        starter_questions_add(party)
        return party

    return make


@pytest.fixture
def make_attendee() -> Callable[..., Attendee]:
    def make(party: Party, email: str | None = None, **fields: object) -> Attendee:
        number = next(_sequence)
        values: dict[str, object] = {
            "first_name": "Sarah",
            "consented_at": timezone.now(),
            "marketing_consent": True,
            "sync_state": SyncState.PENDING,
            **fields,
        }
        # Anything not a column is an answer to the question of that key (pet_name="Rex").
        columns = {field.name for field in Attendee._meta.get_fields()}
        answers = {key: values.pop(key) for key in list(values) if key not in columns}
        if answers:
            values["answers"] = {**answers, **values.get("answers", {})}  # type: ignore[dict-item]
        email = email or f"guest{number}@example.com"
        # As the services write it: the door finds them by their names and address.
        values.setdefault(
            "door_search",
            search_words(
                first_name=str(values["first_name"]),
                last_name=str(values.get("last_name", "")),
                email=email,
            ),
        )
        return Attendee.objects.create(party=party, email=email, **values)

    return make


@pytest.fixture
def sandbox() -> Iterator[object]:
    """The product's `requests` calls to Klaviyo go to the in-process sandbox (frozen clock).

    Yields the `responses` mock, whose `calls` hold every request the product sent.
    """
    from klaviyo_sandbox import testing

    with testing.frozen_clock(), testing.route_requests_to_sandbox() as mock:
        yield mock


@pytest.fixture
def sandbox_connection(make_member) -> Callable[..., KlaviyoConnection]:
    """A connection whose tokens the sandbox accepts (the app installed on a sandbox account)."""
    from klaviyo_sandbox import testing

    def make(organization: Organization | None = None, account: str = testing.ACME):
        app = testing.install_app(account=account)
        organization = organization or make_member(role=Role.OWNER).organization
        return KlaviyoConnection.objects.create(
            organization=organization,
            klaviyo_account_id=app.account_id,
            public_api_key=app.account_id,
            klaviyo_organization_name="Acme Pets" if account == testing.ACME else "Bark & Co",
            scopes=app.scope.split(),
            access_token=app.access_token,
            refresh_token=app.refresh_token,
            access_token_expires_at=timezone.now() + timedelta(seconds=app.expires_in),
        )

    return make


@pytest.fixture
def sandbox_party(owner, sandbox, sandbox_connection) -> Party:
    """A party created through the service, its list created by its first sync run: the list
    really exists in the sandbox."""
    party = party_services.party_create(
        membership=owner, connection=sandbox_connection(owner.organization), data=PARTY
    )
    sync.party_sync(party_id=party.pk)
    party.refresh_from_db()
    assert party.list_state == ListState.READY, party.list_error
    Party.objects.filter(pk=party.pk).update(next_sync_at=None)
    DBTaskResult.objects.all().delete()
    return party


@pytest.fixture
def double_opt_in_party(owner, sandbox, sandbox_connection) -> Party:
    """The same, its list double opt-in as Klaviyo reports it."""
    party = party_services.party_create(
        membership=owner,
        connection=sandbox_connection(owner.organization),
        data={**PARTY, "name": "Confirm-a-pawty", "opt_in_process": "double_opt_in"},
    )
    sync.party_sync(party_id=party.pk)
    DBTaskResult.objects.all().delete()
    Party.objects.filter(pk=party.pk).update(next_sync_at=None)
    party.refresh_from_db()
    assert party.klaviyo_opt_in_process == "double_opt_in"
    return party
