from django.http import HttpRequest

from accounts.models import Membership
from accounts.tenancy import acts_for_organization


def organizations(request: HttpRequest) -> dict[str, object]:
    """The user's organizations, for the navigation bar's switcher: none for a member of one
    organization, who has nothing to switch to."""
    if not acts_for_organization(request):
        return {}
    memberships = list(
        Membership.objects.filter(user=request.user)
        .select_related("organization")
        .order_by("organization__name")
    )
    return {"switchable_memberships": memberships if len(memberships) > 1 else []}
