"""Signed, expiring links in emails: confirm, unsubscribe, delete.

itsdangerous signs ``{purpose, subscriber}`` with the deployment's secret;
a token made for one purpose never works for another.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

Purpose = Literal["confirm", "unsubscribe", "delete"]

MAX_AGE_S: dict[str, int] = {
    "confirm": 3 * 86400,
    "unsubscribe": 400 * 86400,  # links in old digests must keep working
    "delete": 400 * 86400,
}


class InvalidLink(Exception):
    """The link is forged, altered, made for another purpose, or expired."""


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="followthrough-links")


def make_token(secret: str, purpose: Purpose, subscriber_id: str) -> str:
    return str(_serializer(secret).dumps({"p": purpose, "s": subscriber_id}))


def read_token(secret: str, purpose: Purpose, token: str, *, max_age_s: int | None = None) -> str:
    """The subscriber id in a valid ``token`` for ``purpose``; raises ``InvalidLink`` otherwise."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age_s if max_age_s is not None else MAX_AGE_S[purpose])
    except SignatureExpired:
        raise InvalidLink("this link has expired") from None
    except BadSignature:
        raise InvalidLink("this link is not valid") from None
    if not isinstance(data, dict) or data.get("p") != purpose or not isinstance(data.get("s"), str):
        raise InvalidLink("this link is not valid") from None
    return str(data["s"])


def link(base_url: str, purpose: Purpose, secret: str, subscriber_id: str) -> str:
    """``<base>/<purpose>?token=…``"""
    return f"{base_url.rstrip('/')}/{purpose}?{urlencode({'token': make_token(secret, purpose, subscriber_id)})}"
