"""Keep the sandbox's tables in the `sandbox` database and everything else out of it."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

APP_LABEL = "klaviyo_sandbox"
DATABASE = "sandbox"


class SandboxRouter:
    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return DATABASE if model._meta.app_label == APP_LABEL else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return DATABASE if model._meta.app_label == APP_LABEL else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # Sandbox rows relate only to sandbox rows: never a foreign key into the product.
        ours = (obj1._meta.app_label == APP_LABEL, obj2._meta.app_label == APP_LABEL)
        if any(ours):
            return all(ours)
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if app_label == APP_LABEL:
            return db == DATABASE
        if db == DATABASE:
            return False
        return None
