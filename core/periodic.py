"""Periodic tasks as one self-renewing chain each (django-tasks has no scheduler of its own):
a pass schedules the next in `finally`, and starting the chain twice adds nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django.utils.module_loading import import_string
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


@dataclass(frozen=True)
class PeriodicTask:
    """A self-renewing task some worker must keep queued, as the app that owns it describes it."""

    name: str  # the doctor's name for its check (`--skip NAME`)
    title: str
    task_path: str
    missing: str  # the verdict while none is queued, and what goes wrong then
    schedule: str  # how to queue it


_registry: dict[str, PeriodicTask] = {}


def periodic_task_register(periodic_task: PeriodicTask) -> None:
    """Declare a chain that must stay queued (call from AppConfig.ready()); `manage.py
    klaviyo_doctor` checks each one."""
    _registry[periodic_task.name] = periodic_task


def periodic_tasks() -> dict[str, PeriodicTask]:
    return dict(_registry)


def periodic_tasks_schedule() -> list[str]:
    """Queue a first pass of every registered chain that has none waiting (the apps' own
    chains, each registered from its AppConfig.ready()); the names of those queued."""
    queued = []
    for periodic_task in _registry.values():
        if schedule_next_pass(import_string(periodic_task.task_path)):
            queued.append(periodic_task.name)
    return queued
