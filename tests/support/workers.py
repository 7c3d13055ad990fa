"""A django-tasks-db worker, as `manage.py db_worker` builds it, for tests and the benchmark."""

from django_tasks_db.management.commands.db_worker import Worker


def make_worker(name: str, *, batch: bool = True, interval: float = 0) -> Worker:
    """A worker on every queue; `batch` stops it once nothing is due."""
    return Worker(
        queue_names=["*"],
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=name,
        excluded_queue_names=[],
    )
