"""Rotating the keys of the stored secrets: re-encrypt every encrypted value under the newest key.

The operator puts the new SECRET_KEY (and/or a new first SALT_KEY) in place, keeps the old
ones in SECRET_KEY_FALLBACKS (and later in SALT_KEY's list), restarts, and runs
`manage.py rotate_encryption_keys`. Every value is then readable with the newest key alone and
the old keys can go. See the README, "Secrets and keys".

Safe to run at any time and any number of times: a value already under the newest key is left
alone, each batch is one short transaction, and a value is rewritten only if it is still the
one that was read (so a token refreshed meanwhile is never overwritten by its older self).
A value no configured key can read is counted and named by row id, never shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.db import models, transaction
from django.db.models.functions import Cast

from integrations.fields import EncryptedColumn, encrypted_fields

DEFAULT_BATCH_SIZE = 500


@dataclass
class ColumnReport:
    """What the rotation found in one encrypted column."""

    label: str
    rotated: int = 0
    current: int = 0
    unreadable_ids: list[Any] = field(default_factory=list)

    @property
    def unreadable(self) -> int:
        return len(self.unreadable_ids)


@dataclass
class RotationReport:
    columns: list[ColumnReport]

    @property
    def rotated(self) -> int:
        return sum(column.rotated for column in self.columns)

    @property
    def current(self) -> int:
        return sum(column.current for column in self.columns)

    @property
    def unreadable(self) -> int:
        return sum(column.unreadable for column in self.columns)


def encrypted_values_rotate(
    *, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False
) -> RotationReport:
    """Re-encrypt every stored encrypted value under the newest key (see the module doc)."""
    return RotationReport(
        columns=[
            _rotate_column(model, column, batch_size=batch_size, dry_run=dry_run)
            for model, column in encrypted_fields()
        ]
    )


def _rotate_column(
    model: type[models.Model], column: EncryptedColumn, *, batch_size: int, dry_run: bool
) -> ColumnReport:
    report = ColumnReport(label=f"{model._meta.label}.{column.name}")
    newest = Fernet(column.keys[0])
    every = MultiFernet([Fernet(key) for key in column.keys])
    # The stored ciphertext itself, past the field's decryption.
    rows = model._base_manager.annotate(
        _ciphertext=Cast(column.attname, output_field=models.TextField())
    ).filter(_ciphertext__isnull=False)
    last_pk = None
    while True:
        batch = rows.order_by("pk")
        if last_pk is not None:
            batch = batch.filter(pk__gt=last_pk)
        values = list(batch.values_list("pk", "_ciphertext")[:batch_size])
        if not values:
            return report
        last_pk = values[-1][0]
        updates: list[tuple[Any, str, str]] = []
        for pk, ciphertext in values:
            if not ciphertext:
                continue
            token = ciphertext.encode("utf-8")
            try:
                newest.decrypt(token)
            except InvalidToken:
                pass
            else:
                report.current += 1
                continue
            try:
                # Keeps the value's original timestamp; only the key changes.
                updates.append((pk, ciphertext, every.rotate(token).decode("utf-8")))
            except InvalidToken:
                report.unreadable_ids.append(pk)
        if dry_run:
            report.rotated += len(updates)
            continue
        with transaction.atomic():
            for pk, old, new in updates:
                changed = rows.filter(pk=pk, _ciphertext=old).update(
                    **{column.attname: models.Value(new, output_field=models.TextField())}
                )
                if changed:
                    report.rotated += 1
                else:
                    # Rewritten since it was read, by code that encrypts with the newest key.
                    report.current += 1
