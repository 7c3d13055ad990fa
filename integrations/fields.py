"""Encrypted token storage that fails loudly.

django-fernet-encrypted-fields returns the ciphertext itself when a value cannot be decrypted
(wrong SECRET_KEY or SALT_KEY). For tokens that would mean sending ciphertext to Klaviyo as a
bearer token and, on the 401 that follows, concluding the connection is dead. Here a value
that cannot be decrypted loads as `UndecryptableSecret`, which refuses to become a string, and
is written back unchanged if the row is saved, so a key mistake never destroys a token.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django.core.exceptions import ImproperlyConfigured
from encrypted_fields.fields import EncryptedTextField


class SecretDecryptionError(ImproperlyConfigured):
    """A stored secret cannot be decrypted with the configured SECRET_KEY and SALT_KEY."""

    def __init__(self) -> None:
        super().__init__(
            "A stored Klaviyo token cannot be decrypted: SECRET_KEY, SECRET_KEY_FALLBACKS or "
            "SALT_KEY differ from the ones it was encrypted with. Restore the previous keys "
            "(or add them as fallbacks) and restart."
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
            return self.f.decrypt(value.encode("utf-8")).decode("utf-8")
        except InvalidToken:
            return UndecryptableSecret(value)

    def get_prep_value(self, value: Any) -> Any:
        # Not super(): TextField.get_prep_value runs to_python, which would try to decrypt
        # the plaintext being saved.
        if isinstance(value, UndecryptableSecret):
            return value.ciphertext
        if value is None or value == "":
            return None
        return self.f.encrypt(str(value).encode("utf-8")).decode("utf-8")
