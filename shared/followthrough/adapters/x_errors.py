"""The errors X's answers come to, apart from the client so that code which only tells them apart (the
Activity API's webhook, the pipeline) does not import tweepy to do it."""

from __future__ import annotations

from typing import Any


class XRateLimited(Exception):
    def __init__(self, endpoint: str, reset_at: int | None) -> None:
        super().__init__(f"X rate limit on {endpoint}; resets at {reset_at}")
        self.endpoint = endpoint
        self.reset_at = reset_at
        # what the interrupted read had got by then, set by the reader on its way out (paid for: keep it)
        self.partial: Any = None


class XUsageCapped(Exception):
    """429 with the problem type ``usage-capped``: the app's monthly Post cap is reached. Not a rate limit:
    its ``x-rate-limit-reset`` says nothing about when the cap resets (the billing cycle does)."""


class XAuthRevoked(Exception):
    """The subscriber's token was revoked or can no longer be refreshed."""


class XRefreshUnavailable(Exception):
    """X's token endpoint failed in a way that says nothing about the grant (5xx, 429, a timeout, a cut
    connection, a body that does not parse): the stored tokens are still good, try again later."""


class XClientRefused(XRefreshUnavailable):
    """X's token endpoint refused the app itself (401, or ``invalid_client`` / ``unauthorized_client``): the
    client id or secret is wrong or was rotated. Nothing is wrong with the subscriber's grant, and every
    subscriber's refresh fails alike until the app's credentials are fixed: their tokens are kept and nobody
    is asked to reconnect (a wrong secret must not log everyone out); the operators are alarmed."""


class XCreditsExhausted(Exception):
    """402 from X: the app's pay-per-use credits are used up."""


class XUnavailable(Exception):
    """X kept answering 5xx after bounded retries."""


class XMalformed(Exception):
    """X answered something that does not parse as the documented shape."""


class XActivityRefused(Exception):
    """X will not create the subscription (the app's allowance is used up, or the request is refused)."""
