"""An attendee's check-in QR code, drawn where the page shows it (their own page and the
thank-you page include `public/_checkin.html`)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from parties.qr import checkin_qr_svg

register = template.Library()


@register.simple_tag
def checkin_qr(code: str) -> SafeString:
    return checkin_qr_svg(code)
