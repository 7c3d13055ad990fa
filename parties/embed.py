"""A party's signup form embedded in an organizer's own site: the snippet they paste, who may
frame the form, and what protects its POST.

The form lives in a frame of another site, where browsers keep no cookie of ours (third-party
cookies are blocked): no CSRF cookie, no session, no signed thank-you cookie. Its POST is
protected instead by

- a form token, signed with its own salt, naming the party and when it was issued, good for
  FORM_TOKEN_MAX_AGE: a form is posted from a page we served for that party, lately;
- the Origin header: the form is posted from inside our frame, so a browser names our own
  origin; a page elsewhere posting a forged form names its own, and is refused. A browser that
  sends no Origin but says `Sec-Fetch-Site: cross-site` (or same-site) is refused too; a client
  sending neither (no browser does for a form POST today) has the token to show.

The honeypot and both signup rate limits stay as on the public page.

Framing: the form's responses carry `frame-ancestors 'self'` and the organization's allowed
sites (`Organization.embed_origins`), and no X-Frame-Options. With no site allowed that is
`'self'` alone: our own pages may frame it (none does today), no other site can.
Every other page keeps `frame-ancestors 'none'` and `X-Frame-Options: DENY` (settings).
"""

from __future__ import annotations

from typing import NamedTuple

from csp.constants import SELF
from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.html import escape
from django.utils.translation import gettext_lazy as _

from core.links import absolute_url
from parties.models import Party

# A problem in words for the person ("" when there is none), in the page's language.
StrOrPromise = str | Promise
EMBED_FORM_SALT = "parties.embed-form"
# Long enough to read the party and fill the form in, short enough that a token copied out
# of a page is soon worthless.
FORM_TOKEN_MAX_AGE = 2 * 60 * 60
# embed.js, at the address it always has: the snippet lives in other people's pages for
# years, so it names the file without the hash a deployment's static names carry.
EMBED_SCRIPT = "js/embed.js"
# The plain iframe's height, for sites that allow no script: the form with its waitlist
# notice, most of a phone screen.
FALLBACK_HEIGHT = 900

FORM_UNCHECKED = _("This form could not be checked. Here it is again: please send it once more.")
FORM_STALE = _("This form was open for a long while. Here it is again: please send it once more.")
FOREIGN_ORIGIN = _("Signups for this party are taken only from its own form.")


def form_token(party: Party) -> str:
    """A fresh token for the party's embedded form (the party and the time it was issued)."""
    return signing.TimestampSigner(salt=EMBED_FORM_SALT).sign(party.slug)


def form_token_problem(token: str | None, party: Party) -> StrOrPromise:
    """Why the posted `token` is not good for `party` ("" when it is)."""
    if not token:
        return FORM_UNCHECKED
    signer = signing.TimestampSigner(salt=EMBED_FORM_SALT)
    try:
        slug = signer.unsign(token, max_age=FORM_TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        return FORM_STALE
    except signing.BadSignature:
        return FORM_UNCHECKED
    # Another party's token is no more this form's than a forged one.
    return "" if slug == party.slug else FORM_UNCHECKED


def origin_problem(request: HttpRequest) -> StrOrPromise:
    """Why this POST does not come from our own frame ("" when it may)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        # "null" (a sandboxed or opaque frame) is no origin of ours either.
        ours = f"{request.scheme}://{request.get_host()}"
        return "" if origin == ours else FOREIGN_ORIGIN
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site in ("cross-site", "same-site"):
        return FOREIGN_ORIGIN
    return ""


def frame_ancestors(party: Party) -> list[str]:
    """Who may frame the party's embedded form: ourselves and the organization's sites."""
    return [SELF, *party.organization.embed_origins]


def allow_framing(response: HttpResponseBase, party: Party) -> HttpResponseBase:
    """Let the organization's sites frame this response: its Content-Security-Policy names
    them in `frame-ancestors` (django-csp's per-response replacement, the attribute its
    `csp_replace` decorator sets: the sources here depend on the party). The view is
    `xframe_options_exempt`: X-Frame-Options can name no list of sites."""
    response._csp_replace = {"frame-ancestors": frame_ancestors(party)}  # type: ignore[attr-defined]
    return response


class Snippets(NamedTuple):
    script: str
    iframe: str
    form_url: str


def snippets(party: Party) -> Snippets:
    """What an organizer pastes into their site: the script that frames the form and sizes
    the frame to it, and a plain iframe of a fixed height for sites that allow no script.
    Absolute URLs on SITE_URL: they are read on someone else's site."""
    form_url = absolute_url(reverse("parties:signup_embed", args=[party.slug]))
    script_url = absolute_url(f"{settings.STATIC_URL}{EMBED_SCRIPT}")
    # Plain text (f-strings of escaped values), which the party page escapes to show it.
    script = f'<script src="{escape(script_url)}" data-party="{escape(party.slug)}" async></script>'
    iframe = (
        f'<iframe src="{escape(form_url)}" title="Sign up: {escape(party.name)}" width="100%" '
        f'height="{FALLBACK_HEIGHT}" style="border: 0"></iframe>'
    )
    return Snippets(script=script, iframe=iframe, form_url=form_url)
