"""Periodic tasks as one self-renewing chain each (django-tasks has no scheduler of its own):
a pass schedules the next in `finally`, and starting the chain twice adds nothing."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.base import Task
from django_tasks_db.models import DBTaskResult


def schedule_next_pass(task: Task, *, delay: float = 0) -> bool:
    """Queue `task(reschedule=True)` in `delay` seconds unless a pass is already waiting."""
    waiting = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=task.module_path
    ).exists()
    if waiting:
        return False
    task.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(reschedule=True)
    return True
