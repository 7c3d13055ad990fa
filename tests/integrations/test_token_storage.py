"""Tokens at rest: encrypted, never plaintext in a row, and loud when the keys are wrong."""

import pytest
from django.db import connection as db_connection

from integrations import tokens
from integrations.fields import EncryptedSecretField, SecretDecryptionError, UndecryptableSecret
from integrations.models import ConnectionStatus, KlaviyoConnection


def raw_row(connection: KlaviyoConnection) -> tuple[str, str]:
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM integrations_klaviyoconnection WHERE id = %s",
            [connection.pk],
        )
        return cursor.fetchone()


@pytest.mark.django_db
def test_tokens_are_encrypted_in_the_database(make_connection):
    connection = make_connection(access_token="plain-access-xyz", refresh_token="plain-refresh-xyz")

    access, refresh = raw_row(connection)

    assert "plain-access-xyz" not in access
    assert "plain-refresh-xyz" not in refresh
    connection.refresh_from_db()
    assert connection.access_token == "plain-access-xyz"


@pytest.mark.django_db
def test_tokens_of_klaviyo_maximum_length_round_trip(make_connection):
    access, refresh = "a" * 4096, "r" * 512
    connection = make_connection(access_token=access, refresh_token=refresh)

    connection.refresh_from_db()

    assert connection.access_token == access
    assert connection.refresh_token == refresh


def reset_key_cache() -> None:
    """The fields derive their Fernet keys once; forget them after changing SALT_KEY."""
    for field in KlaviyoConnection._meta.concrete_fields:
        if isinstance(field, EncryptedSecretField):
            field.__dict__.pop("keys", None)
            field.__dict__.pop("f", None)


@pytest.fixture
def use_salts(settings):
    def use(salts: list[str]) -> None:
        settings.SALT_KEY = salts
        reset_key_cache()

    yield use
    settings.SALT_KEY = ["test-salt"]
    reset_key_cache()


@pytest.mark.django_db
def test_undecryptable_token_is_loud_and_never_sent(make_connection, use_salts):
    connection = make_connection()
    use_salts(["another-deployments-salt"])

    reloaded = KlaviyoConnection.objects.get(pk=connection.pk)

    assert isinstance(reloaded.access_token, UndecryptableSecret)
    with pytest.raises(SecretDecryptionError):
        tokens.get_access_token(connection=reloaded)
    with pytest.raises(SecretDecryptionError):
        str(reloaded.refresh_token)
    # Saving the row (say, a label change) keeps the ciphertext instead of destroying it.
    reloaded.label = "renamed"
    reloaded.save()
    assert KlaviyoConnection.objects.get(pk=connection.pk).status == ConnectionStatus.ACTIVE
    use_salts(["test-salt"])
    assert KlaviyoConnection.objects.get(pk=connection.pk).access_token == "access-token-1"


@pytest.mark.django_db
def test_rotated_keys_still_decrypt_with_the_old_salt_listed(make_connection, use_salts):
    connection = make_connection()

    use_salts(["new-salt", "test-salt"])

    assert KlaviyoConnection.objects.get(pk=connection.pk).access_token == "access-token-1"
