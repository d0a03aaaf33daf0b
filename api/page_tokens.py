"""Page tokens: one scheme for every listing. A token carries where the next page starts (Temporal's
own token, or the last id seen) bound to the listing it continues (the query, with the tenant in
it), so a forged, damaged or foreign token is a clear 400 instead of a wrong page or a slow
failure further down."""

from __future__ import annotations

import base64
import binascii
import hashlib

from aios.errors import ValidationFailed

_VERSION = b"\x01"
_CHECK_BYTES = 8


def _check(raw: bytes, listing: str) -> bytes:
    return hashlib.sha256(listing.encode() + b"\0" + raw).digest()[:_CHECK_BYTES]


def seal(raw: bytes, listing: str) -> str:
    """The token for the page after this one of `listing` (any string naming the listing and its
    filters, the caller's tenant included)."""
    return base64.urlsafe_b64encode(_VERSION + _check(raw, listing) + raw).decode().rstrip("=")


def unseal(token: str, listing: str) -> bytes:
    """Where the page starts; ValidationFailed when this API did not issue `token` for
    `listing`."""
    refused = ValidationFailed(
        "page_token is not a token this API returned for this listing; start without it"
    )
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise refused from None
    version, check, raw = sealed[:1], sealed[1 : 1 + _CHECK_BYTES], sealed[1 + _CHECK_BYTES :]
    if version != _VERSION or not raw or check != _check(raw, listing):
        raise refused
    return raw
