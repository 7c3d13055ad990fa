from django.http import HttpRequest

from accounts.models import Membership
from accounts.tenancy import acts_for_organization


def organizations(request: HttpRequest) -> dict[str, object]:
    """The user's organizations, for the navigation bar's switcher."""
    if not acts_for_organization(request):
        return {}
    return {
        "switchable_memberships": Membership.objects.filter(user=request.user)
        .select_related("organization")
        .order_by("organization__name")
    }
