"""Fixtures for the door: a party with its organization's door staff."""

from __future__ import annotations

import pytest

from accounts.models import Membership, Role
from parties.models import Party


@pytest.fixture
def party(owner, make_party) -> Party:
    return make_party(owner.organization)


@pytest.fixture
def door_staff(owner, make_member, make_user) -> Membership:
    user = make_user(email="ana@example.com", full_name="Ana Lopez")
    return make_member(role=Role.DOOR, organization=owner.organization, user=user)
