"""Encrypted token storage that fails loudly.

django-fernet-encrypted-fields returns the ciphertext itself when a value cannot be decrypted
(wrong SECRET_KEY or SALT_KEY). For tokens that would mean sending ciphertext to Klaviyo as a
bearer token and, on the 401 that follows, concluding the connection is dead. Here a value
that cannot be decrypted loads as `UndecryptableSecret`, which refuses to become a string, and
is written back unchanged if the row is saved, so a key mistake never destroys a token.

Keys (the library's): one Fernet key per (secret key, salt) pair, for SECRET_KEY then each of
SECRET_KEY_FALLBACKS, times each salt in SALT_KEY. The first pair encrypts; every pair
decrypts, so keys rotate (`manage.py rotate_encryption_keys`, integrations/keys.py).
Every plaintext that passes through here is remembered for log redaction.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeGuard, overload

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from encrypted_fields.fields import EncryptedFieldMixin, EncryptedTextField

from integrations.klaviyo.redaction import remember_secret

# The settings the encryption keys are derived from.
KEY_SETTINGS = frozenset({"SECRET_KEY", "SECRET_KEY_FALLBACKS", "SALT_KEY"})

# What organizers and API callers are told: nothing they can do fixes it, and nothing was sent.
OPERATOR_MUST_FIX_KEYS = (
    "Partyline cannot read its stored Klaviyo credentials with the server's current encryption "
    "keys, so nothing was sent to Klaviyo. The operator must fix the server's keys "
    "(SECRET_KEY, SECRET_KEY_FALLBACKS and SALT_KEY); the details are in the server log."
)


class SecretDecryptionError(ImproperlyConfigured):
    """A stored secret cannot be decrypted with the configured SECRET_KEY and SALT_KEY."""

    def __init__(self) -> None:
        super().__init__(
            "A stored Klaviyo token cannot be decrypted: SECRET_KEY, SECRET_KEY_FALLBACKS or "
            "SALT_KEY differ from the ones it was encrypted with. The operator must fix the "
            "server's keys: restore the previous keys (or add them as fallbacks) and restart."
        )


class UndecryptableSecret:
    """Stands in for a secret whose ciphertext the current keys cannot open."""

    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: str) -> None:
        self.ciphertext = ciphertext

    def __str__(self) -> str:
        raise SecretDecryptionError

    def __repr__(self) -> str:
        return "<UndecryptableSecret>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UndecryptableSecret) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)


@overload
def reveal(value: str | UndecryptableSecret) -> str: ...
@overload
def reveal(value: str | UndecryptableSecret | None) -> str | None: ...
def reveal(value: str | UndecryptableSecret | None) -> str | None:
    """The plaintext of a stored secret, or SecretDecryptionError if the keys are wrong."""
    if isinstance(value, UndecryptableSecret):
        raise SecretDecryptionError
    return value


class EncryptedSecretField(EncryptedTextField):
    """A Fernet-encrypted text column that never hands out ciphertext as if it were plaintext."""

    def to_python(self, value: Any) -> Any:
        if value is None or not isinstance(value, str) or hasattr(self, "_already_decrypted"):
            return value
        try:
            plaintext = self.f.decrypt(value.encode("utf-8")).decode("utf-8")
        except InvalidToken:
            return UndecryptableSecret(value)
        remember_secret(plaintext)
        return plaintext

    def get_prep_value(self, value: Any) -> Any:
        # Not super(): TextField.get_prep_value runs to_python, which would try to decrypt
        # the plaintext being saved.
        if isinstance(value, UndecryptableSecret):
            return value.ciphertext
        if value is None or value == "":
            return None
        plaintext = str(value)
        remember_secret(plaintext)
        return self.f.encrypt(plaintext.encode("utf-8")).decode("utf-8")


class EncryptedColumn(Protocol):
    """An encrypted model field (the library's mixin on a Django field), as rotation uses it."""

    name: str
    attname: str

    @property
    def keys(self) -> list[bytes]: ...


def _is_encrypted(field: models.Field) -> TypeGuard[EncryptedColumn]:
    # A guard rather than isinstance: the checker finds the mixin's and Django's method
    # signatures too different to picture a class deriving from both.
    return isinstance(field, EncryptedFieldMixin)


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedColumn]]:
    """Every encrypted column of every installed model: ours, and any library field's."""
    return [
        (model, field)
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
        for field in model._meta.local_concrete_fields
        if _is_encrypted(field)
    ]


@receiver(setting_changed)
def forget_derived_keys(*, setting: str, **kwargs: Any) -> None:
    """Each field derives its keys once; derive them again when their settings change."""
    if setting in KEY_SETTINGS and apps.ready:
        for _model, field in encrypted_fields():
            field.__dict__.pop("keys", None)
            field.__dict__.pop("f", None)
