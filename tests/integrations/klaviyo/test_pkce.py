"""PKCE (RFC 7636) and `state` generation."""

from __future__ import annotations

import re

from integrations.klaviyo.pkce import (
    VERIFIER_PATTERN,
    code_challenge,
    generate_code_verifier,
    generate_state,
)


def test_s256_challenge_matches_rfc7636_appendix_b():
    # RFC 7636 Appendix B: the worked example of the S256 transformation.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_code_verifier_uses_unreserved_characters_and_43_to_128_of_them():
    # RFC 7636 section 4.1, and Klaviyo's own check: ^[a-zA-Z0-9\-._~]{43,128}$
    for _ in range(50):
        assert re.fullmatch(VERIFIER_PATTERN, generate_code_verifier())


def test_code_verifiers_are_never_repeated():
    assert len({generate_code_verifier() for _ in range(100)}) == 100


def test_challenge_has_no_base64_padding():
    assert "=" not in code_challenge(generate_code_verifier())


def test_state_is_urlsafe_with_at_least_128_bits():
    state = generate_state()

    assert re.fullmatch(r"[A-Za-z0-9_-]+", state)
    assert len(state) * 6 >= 128
    assert generate_state() != state
