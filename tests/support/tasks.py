"""Tasks used only by tests of the task infrastructure itself."""

from django_tasks import task

from accounts.models import Organization


@task()
def write_organizations(*, count: int, label: str) -> int:
    """Write `count` rows, one transaction each, like a worker draining a queue."""
    for number in range(count):
        Organization.objects.create(name=f"{label} {number}")
    return count
