import re

import pytest
from django.core import mail

from tests.support.accounts import PASSWORD

NEW_PASSWORD = "lilac-badger-umbrella-77"


@pytest.mark.django_db
def test_password_reset_by_email_end_to_end(client, owner):
    response = client.post("/accounts/password/reset/", {"email": owner.user.email.upper()})
    assert response.status_code == 302

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [owner.user.email]
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", message.body).group(1)

    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.text
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    owner.user.refresh_from_db()
    assert owner.user.check_password(NEW_PASSWORD)

    # The link is single-use.
    assert "no longer works" in client.get(link, follow=True).text


@pytest.mark.django_db
def test_password_reset_for_unknown_email_looks_the_same_and_sends_nothing(client):
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert mail.outbox == []


@pytest.mark.django_db
def test_password_change(login, owner):
    client = login(owner)

    response = client.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    owner.user.refresh_from_db()
    assert owner.user.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_password_change_with_wrong_old_password_is_refused(login, owner):
    client = login(owner)

    response = client.post(
        "/accounts/password/change/",
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.text
