from django.http import HttpRequest

from accounts.models import Membership


def organizations(request: HttpRequest) -> dict[str, object]:
    """The user's organizations, for the navigation bar's switcher."""
    if not getattr(request, "membership", None):
        return {}
    return {
        "switchable_memberships": Membership.objects.filter(user=request.user)
        .select_related("organization")
        .order_by("organization__name")
    }
