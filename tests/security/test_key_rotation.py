"""Key rotation: `manage.py rotate_encryption_keys` re-encrypts every stored secret under the
newest key, so the old keys can be removed and every token still reads."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as db_connection
from django.utils import timezone

from integrations import keys
from integrations.fields import UndecryptableSecret, encrypted_fields
from integrations.klaviyo import pkce
from integrations.models import ConnectionStatus, KlaviyoConnection, OAuthState

pytestmark = pytest.mark.django_db

NEW_SECRET_KEY = "rotated-secret-key-for-the-rotation-tests"
NEW_SALT = "rotated-salt"


def stored(model, pk, column: str) -> str | None:
    """The ciphertext as the database holds it."""
    with db_connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {model._meta.db_table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def rotate(**options) -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out, **options)
    return out.getvalue()


def start_rotation(settings) -> None:
    """The new keys first, the old ones kept for reading (the README's first step)."""
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = NEW_SECRET_KEY
    settings.SALT_KEY = [NEW_SALT, *settings.SALT_KEY]


def finish_rotation(settings) -> None:
    """The old keys removed (the README's last step)."""
    settings.SECRET_KEY_FALLBACKS = []
    settings.SALT_KEY = [NEW_SALT]


@pytest.fixture
def make_attempt(owner):
    def make() -> tuple[OAuthState, str]:
        verifier = pkce.generate_code_verifier()
        attempt = OAuthState.objects.create(
            state=pkce.generate_state(),
            code_verifier=verifier,
            user=owner.user,
            organization=owner.organization,
            redirect_uri="http://testserver/integrations/klaviyo/callback/",
            expires_at=timezone.now() + OAuthState.LIFETIME,
        )
        return attempt, verifier

    return make


def test_every_encrypted_column_is_found():
    labels = {f"{model._meta.label}.{field.name}" for model, field in encrypted_fields()}

    assert labels >= {
        "integrations.KlaviyoConnection.access_token",
        "integrations.KlaviyoConnection.refresh_token",
        "integrations.OAuthState.code_verifier",
    }


def test_rotation_re_encrypts_every_secret_so_the_old_keys_can_be_removed(
    settings, owner, make_connection, make_attempt
):
    tokens = {
        make_connection(
            owner.organization, access_token=f"access-token-{n}", refresh_token=f"refresh-{n}"
        ).pk: (f"access-token-{n}", f"refresh-{n}")
        for n in range(5)
    }
    revoked = make_connection(owner.organization, status=ConnectionStatus.REVOKED)
    KlaviyoConnection.objects.filter(pk=revoked.pk).update(access_token=None, refresh_token=None)
    attempt, verifier = make_attempt()
    before = {pk: stored(KlaviyoConnection, pk, "access_token") for pk in tokens}
    start_rotation(settings)

    output = rotate(batch_size=2)

    assert (
        "integrations.KlaviyoConnection.access_token: 5 re-encrypted, 0 already under the "
        "newest key, 0 unreadable" in output
    )
    assert "integrations.KlaviyoConnection.refresh_token: 5 re-encrypted" in output
    assert "integrations.OAuthState.code_verifier: 1 re-encrypted" in output
    assert "11 re-encrypted, 0 already under the newest key, 0 unreadable." in output
    assert all(stored(KlaviyoConnection, pk, "access_token") != before[pk] for pk in tokens)

    finish_rotation(settings)
    for pk, (access, refresh) in tokens.items():
        connection = KlaviyoConnection.objects.get(pk=pk)
        assert connection.access_token == access
        assert connection.refresh_token == refresh
    assert OAuthState.objects.get(pk=attempt.pk).code_verifier == verifier
    assert KlaviyoConnection.objects.get(pk=revoked.pk).access_token is None


def test_rotation_is_idempotent(settings, owner, make_connection):
    connection = make_connection(owner.organization)
    start_rotation(settings)
    rotate()
    ciphertext = stored(KlaviyoConnection, connection.pk, "access_token")

    output = rotate()

    assert "0 re-encrypted, 2 already under the newest key, 0 unreadable." in output
    assert stored(KlaviyoConnection, connection.pk, "access_token") == ciphertext


def test_dry_run_counts_and_writes_nothing(settings, owner, make_connection):
    connection = make_connection(owner.organization)
    ciphertext = stored(KlaviyoConnection, connection.pk, "access_token")
    start_rotation(settings)

    output = rotate(dry_run=True)

    assert "2 would be re-encrypted" in output
    assert "Nothing was written" in output
    assert stored(KlaviyoConnection, connection.pk, "access_token") == ciphertext


def test_a_value_no_key_can_read_is_named_by_row_never_shown(settings, owner, make_connection):
    readable = make_connection(owner.organization, access_token="readable-access-token")
    settings.SALT_KEY = ["another-deployments-salt"]
    lost = make_connection(
        owner.organization, access_token="lost-access-token", refresh_token="lost-refresh-token"
    )
    settings.SALT_KEY = ["test-salt"]
    lost_ciphertext = stored(KlaviyoConnection, lost.pk, "access_token")
    start_rotation(settings)
    out = StringIO()

    with pytest.raises(CommandError, match="2 unreadable") as failure:
        call_command("rotate_encryption_keys", stdout=out)

    output = out.getvalue() + str(failure.value)
    assert f"no configured key can decrypt the rows with id {lost.pk}" in output
    assert "Keep every old key configured" in output
    for secret in ("lost-access-token", "lost-refresh-token", lost_ciphertext):
        assert secret not in output
    # The readable rows were rotated all the same; the unreadable one was left as it was.
    finish_rotation(settings)
    assert KlaviyoConnection.objects.get(pk=readable.pk).access_token == "readable-access-token"
    assert stored(KlaviyoConnection, lost.pk, "access_token") == lost_ciphertext
    assert isinstance(KlaviyoConnection.objects.get(pk=lost.pk).access_token, UndecryptableSecret)


def test_a_token_refreshed_during_rotation_is_not_overwritten(
    settings, owner, make_connection, monkeypatch
):
    connection = make_connection(owner.organization, access_token="before-refresh-token")
    access_token_read = stored(KlaviyoConnection, connection.pk, "access_token").encode()
    start_rotation(settings)

    class RefreshMeanwhile:
        """Wraps the library's MultiFernet (its Rust class cannot be subclassed)."""

        def __init__(self, fernets: list[Fernet]) -> None:
            self.wrapped = MultiFernet(fernets)

        def rotate(self, msg: bytes) -> bytes:
            if msg == access_token_read:
                # A token refresh saves a new access token between the read and the write
                # (only then: a later column's rotation must not write it again).
                KlaviyoConnection.objects.filter(pk=connection.pk).update(
                    access_token="after-refresh-token"
                )
            return self.wrapped.rotate(msg)

    monkeypatch.setattr(keys, "MultiFernet", RefreshMeanwhile)

    rotate()

    finish_rotation(settings)
    assert KlaviyoConnection.objects.get(pk=connection.pk).access_token == "after-refresh-token"


def test_a_zero_batch_size_is_refused():
    with pytest.raises(CommandError, match="batch-size"):
        call_command("rotate_encryption_keys", batch_size=0, stdout=StringIO())
