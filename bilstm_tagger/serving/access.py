"""Who may use the server: the API key (``--api-key`` or ``TAGGER_API_KEY``), and whether it listens
beyond this machine.

The key is compared in constant time: both the key and what a request offers are hashed with
SHA-256 first, and the two 32-byte digests compared with :func:`hmac.compare_digest`, so the time
depends neither on where they first differ nor on the offered key's length. The key itself is kept
only as its digest: it cannot appear in a log line, an error or a ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from bilstm_tagger.base.errors import InputError

OPEN_ROUTES = frozenset({"/health"})  # what answers without the key: a liveness probe
BEARER = "bearer "


class ApiKey:
    """The key requests must offer as ``Authorization: Bearer KEY``."""

    def __init__(self, key: str):
        if not key or key != key.strip() or any(character.isspace() for character in key):
            raise InputError("--api-key (or TAGGER_API_KEY) must be a non-empty word, without white space")
        self._digest = hashlib.sha256(key.encode("utf-8")).digest()

    def admits(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header's value holds the key."""
        value = authorization or ""
        scheme_matches = value[: len(BEARER)].lower() == BEARER
        offered = hashlib.sha256(value[len(BEARER) :].strip().encode("utf-8", "replace")).digest()
        return hmac.compare_digest(offered, self._digest) and scheme_matches

    def __repr__(self) -> str:
        return "ApiKey(<hidden>)"


def is_loopback(address: str) -> bool:
    """Whether a bound address answers this machine only (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False
