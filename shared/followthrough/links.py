"""Signed, expiring links in emails: confirm, unsubscribe, delete, settings, export, view.

itsdangerous signs ``{purpose, subscriber}`` with the deployment's secret;
a token made for one purpose never works for another. A confirmation link also
names (by digest: links end up in logs) the address and X account it was sent
about, so it confirms exactly that, never a change made after it was sent; a view
link names the ISO week of the digest it shows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

Purpose = Literal["confirm", "unsubscribe", "delete", "settings", "export", "view"]

MAX_AGE_S: dict[str, int] = {
    "confirm": 3 * 86400,
    "unsubscribe": 400 * 86400,  # links in old digests must keep working
    "delete": 400 * 86400,
    "settings": 400 * 86400,  # the preference centre: changes when and whether digests come, never ends them
    "export": 400 * 86400,  # "download my data": its page's button (POST) gives the JSON export
    "view": 400 * 86400,  # one week's digest in the browser, as it was sent
}


class InvalidLink(Exception):
    """The link is forged, altered, made for another purpose, or expired."""


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="followthrough-links")


def confirmation_digest(address: str, x_user_id: str | None) -> str:
    """What a confirmation link says it confirms: enough to tell two apart, nothing to read back."""
    linked = f"{address.lower()}\n{x_user_id or ''}"
    return hashlib.sha256(("followthrough-confirms:" + linked).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SignedLink:
    subscriber_id: str
    confirms: str | None  # a confirmation link's ``confirmation_digest``
    week: str | None = None  # a view link's ISO week


def make_token(
    secret: str, purpose: Purpose, subscriber_id: str, *, confirms: str | None = None, week: str | None = None
) -> str:
    if (purpose == "confirm") != (confirms is not None):
        raise ValueError("a confirmation link, and only one, names what it confirms")
    if (purpose == "view") != (week is not None):
        raise ValueError("a view link, and only one, names its week")
    payload = {"p": purpose, "s": subscriber_id}
    if confirms is not None:
        payload["c"] = confirms
    if week is not None:
        payload["w"] = week
    return str(_serializer(secret).dumps(payload))


def read_link(secret: str, purpose: Purpose, token: str, *, max_age_s: int | None = None) -> SignedLink:
    """What a valid ``token`` for ``purpose`` says; raises ``InvalidLink`` otherwise."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age_s if max_age_s is not None else MAX_AGE_S[purpose])
    except SignatureExpired:
        raise InvalidLink("this link has expired") from None
    except BadSignature:
        raise InvalidLink("this link is not valid") from None
    if not isinstance(data, dict) or data.get("p") != purpose or not isinstance(data.get("s"), str):
        raise InvalidLink("this link is not valid") from None
    confirms = data.get("c")
    if (purpose == "confirm") != isinstance(confirms, str):
        raise InvalidLink("this link is not valid") from None
    week = data.get("w")
    if (purpose == "view") != isinstance(week, str):
        raise InvalidLink("this link is not valid") from None
    return SignedLink(str(data["s"]), confirms, week)


def read_token(secret: str, purpose: Purpose, token: str, *, max_age_s: int | None = None) -> str:
    """The subscriber id in a valid ``token`` for ``purpose``; raises ``InvalidLink`` otherwise."""
    return read_link(secret, purpose, token, max_age_s=max_age_s).subscriber_id


def link(
    base_url: str,
    purpose: Purpose,
    secret: str,
    subscriber_id: str,
    *,
    confirms: str | None = None,
    week: str | None = None,
) -> str:
    """``<base>/<purpose>?token=…``"""
    token = make_token(secret, purpose, subscriber_id, confirms=confirms, week=week)
    return f"{base_url.rstrip('/')}/{purpose}?{urlencode({'token': token})}"
