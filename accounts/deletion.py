"""What deleting an organization or an account takes with it, read before anyone confirms.

Accounts sits below the apps that keep an organization's parties and Klaviyo connections, so
it never imports them: each registers an `OrganizationPart` when its app is ready (as the
pipelines register with integrations), and the confirmation pages and
`services.organization_delete` ask the registry. A new app holding an organization's rows
registers one part, with no change here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.db.models import Count, Q

from accounts.models import ApiToken, Membership, Organization, Role, User


@dataclass(frozen=True)
class OrganizationPart:
    """Rows an app above accounts keeps for an organization.

    - `count`: how many of each thing the organization has, by name ("parties", "attendees"),
      for the confirmation page, which words them;
    - `release`: called in the deleting transaction before the organization's row goes, with
      everything that cascades from it: deletes what that cascade cannot (a row another of
      the organization's rows protects), queues what must happen outside (revoking at
      Klaviyo, in the background), and answers the rows it deleted by model label.
    """

    name: str
    count: Callable[[Organization], Mapping[str, int]]
    release: Callable[[Organization], Mapping[str, int]]


_registry: dict[str, OrganizationPart] = {}


def organization_part_register(part: OrganizationPart) -> None:
    """Called from an app's `ready()`; registering the same name again replaces it."""
    _registry[part.name] = part


def organization_parts() -> list[OrganizationPart]:
    return list(_registry.values())


def organization_contents(organization: Organization) -> dict[str, int]:
    """What deleting the organization takes with it, counted: its members (detached, their
    accounts stay), pending invites, live API tokens, and each registered part's things."""
    contents = {
        "members": organization.memberships.count(),
        "invites": organization.invites.pending().count(),
        "api_tokens": ApiToken.objects.active().filter(organization=organization).count(),
    }
    for part in organization_parts():
        contents.update(part.count(organization))
    return contents


@dataclass(frozen=True)
class AccountDeletionPlan:
    """What deleting a user's account does to each of their organizations.

    - `blocked_by`: those they are the only owner of, with other members: deleting the
      account would leave them ownerless, so it is refused until ownership is handed over or
      the organization is deleted;
    - `deleted`: those they are the only member of, deleted with the account (with what each
      holds, counted);
    - `left`: those whose other members carry on without them.
    """

    blocked_by: list[Organization] = field(default_factory=list)
    deleted: list[tuple[Organization, dict[str, int]]] = field(default_factory=list)
    left: list[Organization] = field(default_factory=list)


def account_deletion_plan(*, user: User) -> AccountDeletionPlan:
    plan = AccountDeletionPlan()
    memberships = (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .annotate(
            members=Count("organization__memberships", distinct=True),
            owners=Count(
                "organization__memberships",
                filter=Q(organization__memberships__role=Role.OWNER),
                distinct=True,
            ),
        )
        .order_by("organization__name", "organization_id")
    )
    for membership in memberships:
        organization = membership.organization
        if membership.members == 1:
            plan.deleted.append((organization, organization_contents(organization)))
        elif membership.role == Role.OWNER and membership.owners == 1:
            plan.blocked_by.append(organization)
        else:
            plan.left.append(organization)
    return plan
