"""PKCE (RFC 7636) and the OAuth `state` value: the random strings that bind a callback to
the browser and the verifier that started it."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

# RFC 7636 section 4.1: "code_verifier = high-entropy cryptographic random STRING using the
# unreserved characters [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~", with a minimum length
# of 43 characters and a maximum length of 128 characters."
VERIFIER_PATTERN = r"^[A-Za-z0-9\-._~]{43,128}$"
_VERIFIER_BYTES = 96  # base64url of 96 bytes is exactly 128 characters, the maximum.
_STATE_BYTES = 32  # 256 bits: unguessable, so a forged callback cannot name a real state.
# What `generate_state` makes (base64url), at most as long as the column that stores it.
_STATE_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,128}")


def generate_code_verifier() -> str:
    """A fresh verifier: 128 characters of base64url (a subset of the unreserved set).

    RFC 7636 section 7.1 asks for at least 256 bits of entropy; 96 random bytes give 768.
    """
    return secrets.token_urlsafe(_VERIFIER_BYTES)[:128]


def code_challenge(verifier: str) -> str:
    """The S256 challenge for `verifier`.

    RFC 7636 section 4.2: "code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))",
    and Appendix A: base64url "with all trailing '=' characters omitted".
    """
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def generate_state() -> str:
    """An opaque, single-use `state` (RFC 6749 section 10.12: a CSRF token bound to the
    user's session, never a guessable value such as the user id)."""
    return secrets.token_urlsafe(_STATE_BYTES)


def is_well_formed_state(value: str) -> bool:
    """Whether `value` could be a state we issued. Anything else (a NUL byte, odd unicode, a
    huge value) is rejected before it reaches the database, which may refuse to compare it."""
    return _STATE_FORMAT.fullmatch(value) is not None
