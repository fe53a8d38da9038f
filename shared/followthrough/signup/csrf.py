"""Cross-site request forgery protection without JavaScript: a signed double-submit token.

The browser holds a random nonce in a ``SameSite=Lax``, ``HttpOnly`` cookie;
every form carries the nonce signed with the deployment's secret and a
timestamp. A POST is accepted only when the signature is valid, recent, and
signs the nonce of the cookie that came with it: another site can make a
browser send the cookie, but can neither read it nor sign a nonce.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from hmac import compare_digest

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

MAX_AGE_S = 12 * 3600  # a form left open for a working day still submits
_NONCE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


class CsrfRefused(Exception):
    """The POST did not come from one of our pages in this browser."""


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="followthrough-csrf")


def browser_nonce(cookie: str | None) -> tuple[str, bool]:
    """The browser's nonce: the cookie's, or a new one; and whether the cookie must be (re)set."""
    if cookie and _NONCE.match(cookie):
        return cookie, False
    return secrets.token_urlsafe(32), True


def form_token(secret: str, nonce: str) -> str:
    return str(_serializer(secret).dumps(nonce))


def check(secret: str, token: str | None, cookie: str | None, *, max_age_s: int = MAX_AGE_S) -> str:
    """The nonce if ``token`` signs the ``cookie`` nonce; raises ``CsrfRefused`` with a reason otherwise."""
    if not cookie or not _NONCE.match(cookie):
        raise CsrfRefused("your browser did not send back the cookie this form needs (are cookies blocked?)")
    if not token:
        raise CsrfRefused("the form was not sent from this site's page")
    try:
        signed = _serializer(secret).loads(token, max_age=max_age_s)
    except SignatureExpired:
        raise CsrfRefused("the page was open too long") from None
    except BadSignature:
        raise CsrfRefused("the form was not sent from this site's page") from None
    if not isinstance(signed, str) or not compare_digest(signed, cookie):
        raise CsrfRefused("the form was opened in another browser or session")
    return cookie


def fingerprint(nonce: str) -> str:
    """What the OAuth state item keeps to recognise the browser at the callback (never the nonce itself)."""
    return hashlib.sha256(("followthrough-browser:" + nonce).encode()).hexdigest()
