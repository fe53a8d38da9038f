"""Fresh X access tokens for a subscriber, refreshed before expiry and never lost.

X's refresh tokens are single-use: two processes refreshing at once would
log the subscriber out. A short lease (a conditional write) makes one of
them refresh while the other waits for the result; the rotated pair is
written with a version check so no write can overwrite a newer one.

Only X refusing the grant (``XAuthRevoked``) ends the connection. When the
token endpoint merely fails (``XRefreshUnavailable``: 5xx, 429, a timeout),
the stored pair is untouched (X did not use the refresh token up). Either
way the lease is released at once, so a retry need not wait it out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from followthrough.adapters.store import ConcurrentUpdate, StoredTokens, TokenRepository
from followthrough.adapters.tokens import TokenCipher
from followthrough.adapters.x import TokenSet, XAuthRevoked, XOAuth, XRefreshUnavailable

REFRESH_MARGIN_S = 300


@dataclass
class TokenKeeper:
    stored: TokenRepository
    cipher: TokenCipher
    oauth: XOAuth
    now: Callable[[], datetime]
    wait: Callable[[float], None] = time.sleep
    lease_s: int = 30

    def save(
        self, subscriber_id: str, tokens: TokenSet, *, expected_version: int | None, forget_at: int | None = None
    ) -> int:
        plaintext = json.dumps({"access": tokens.access_token, "refresh": tokens.refresh_token})
        return self.stored.put_tokens(
            subscriber_id,
            self.cipher.encrypt(plaintext, subscriber_id),
            tokens.expires_at,
            expected_version=expected_version,
            forget_at=forget_at,
        )

    def access_token(
        self, subscriber_id: str, *, force_refresh: bool = False, loaded: StoredTokens | None = None
    ) -> str:
        """A token valid for at least a few minutes; raises ``XAuthRevoked`` if X refuses to refresh,
        ``XRefreshUnavailable`` (tokens kept, lease released) if X could not answer.

        ``force_refresh`` refreshes even a token that looks fresh (X answered 401 to it); ``loaded``:
        the tokens as the caller just read them (saves a read; later attempts read afresh).
        """
        for _ in range(10):
            stored, loaded = loaded or self.stored.get_tokens(subscriber_id), None
            if stored is None:
                raise XAuthRevoked(f"no X tokens stored for subscriber {subscriber_id}")
            pair = json.loads(self.cipher.decrypt(stored.ciphertext, subscriber_id))
            now = self.now().timestamp()
            if stored.expires_at - now > REFRESH_MARGIN_S and not force_refresh:
                return str(pair["access"])
            if not self.stored.take_token_lease(subscriber_id, stored.version, now, self.lease_s):
                self.wait(0.5)  # another process is refreshing: use its result
                continue
            try:
                fresh = self.oauth.refresh(pair["refresh"])
            except (XRefreshUnavailable, XAuthRevoked):
                # X rotated nothing: a retry may ask again at once (and learns the same about a refusal)
                self.stored.release_token_lease(subscriber_id, stored.version)
                raise
            try:
                self.save(subscriber_id, fresh, expected_version=stored.version)
            except ConcurrentUpdate:
                continue
            return fresh.access_token
        # another process holds the lease (or died holding it): nothing says the grant is gone
        raise XRefreshUnavailable(f"tokens of subscriber {subscriber_id} stayed locked by another refresh")
