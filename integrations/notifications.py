"""Telling an organization's owners and admins that a Klaviyo connection broke, or recovered.

One email per incident, however many workers hit the failure at once: the notice is queued
only by the conditional UPDATE that changed the connection's status (`integrations.tokens`
for needs-reconnect, `integrations.services` for a reconnect), inside that UPDATE's
transaction. With the database task backend the queued task is a row of the same transaction,
so it exists exactly when the status change committed. The worker then sends the emails
(console backend by default, SMTP with EMAIL_URL).
"""

from __future__ import annotations

import logging

from django.core.mail import EmailMessage, get_connection
from django.template.loader import render_to_string
from django.urls import reverse
from django_tasks import task

from accounts.models import MANAGER_ROLES, Membership
from core.links import absolute_url
from integrations.models import ConnectionStatus, KlaviyoConnection

logger = logging.getLogger(__name__)

NEEDS_RECONNECT = "needs_reconnect"
RECONNECTED = "reconnected"
_TEMPLATES = {
    NEEDS_RECONNECT: "integrations/email/needs_reconnect",
    RECONNECTED: "integrations/email/reconnected",
}


def connection_health_notify(*, connection_id: int, kind: str) -> None:
    """Queue the owners' and admins' email; call it inside the transaction of the status change."""
    if kind not in _TEMPLATES:
        raise ValueError(f"Unknown connection notice {kind!r}.")
    send_connection_health_email.enqueue(connection_id=connection_id, kind=kind)


def recipients_for(*, organization_id: int) -> list[str]:
    """The organization's owners and admins: the people who can reconnect Klaviyo."""
    return list(
        Membership.objects.filter(
            organization_id=organization_id, role__in=MANAGER_ROLES, user__is_active=True
        )
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


@task()
def send_connection_health_email(*, connection_id: int, kind: str) -> int:
    """Email each owner and admin of the connection's organization; returns how many."""
    connection = (
        KlaviyoConnection.objects.select_related("organization").filter(pk=connection_id).first()
    )
    if connection is None:
        return 0
    if kind == NEEDS_RECONNECT and connection.status != ConnectionStatus.NEEDS_RECONNECT:
        # Someone reconnected before the worker got here: nothing left to ask anyone to do.
        logger.info("Connection %s recovered before its notice was sent", connection_id)
        return 0
    context = {
        "connection": connection,
        "organization": connection.organization,
        "reason": connection.last_error,
        "reconnect_url": absolute_url(
            reverse("integrations:klaviyo_reconnect", args=[connection.pk])
        ),
        "connection_url": absolute_url(
            reverse("integrations:connection_detail", args=[connection.pk])
        ),
    }
    template = _TEMPLATES[kind]
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    body = render_to_string(f"{template}_body.txt", context)
    # One message per person: nobody learns the other recipients' addresses.
    emails = [
        EmailMessage(subject=subject, body=body, to=[address])
        for address in recipients_for(organization_id=connection.organization_id)
    ]
    if emails:
        get_connection().send_messages(emails)
    logger.info(
        "Sent the %s notice of Klaviyo connection %s to %d people",
        kind,
        connection_id,
        len(emails),
    )
    return len(emails)
