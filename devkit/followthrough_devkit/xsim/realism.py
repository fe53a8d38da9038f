"""Where the stand-in behaves like the real X rather than like a tidy list: on by default, each one can be
turned off by a test that needs the tidy version (``XSim(realism=Realism(short_pages=False))``, or
``Realism.none()``).

Each behaviour and the X documentation it comes from (paths in the xdevplatform/docs repository, mirrored at
/work/.mirror/xdevplatform+docs/repo; /work/shared/x-api-facts.md sums them up):

- ``unserved_accounts``: ``public_metrics.following_count`` / ``followers_count`` count some accounts the
  follow lists do not serve (suspended or deactivated ones), so counts and served lists differ by a steady
  offset. The v1.1 follows docs said "suspended users are filtered out after connections are queried"
  (x-api-facts.md, "Behaviours a faithful stand-in must model"); a multi-user lookup omits a suspended
  user and names it in ``errors`` (x-api/users/lookup/integrate.mdx, "Suspended or deleted users"). The
  generator picks the accounts (``SyntheticAccount.unserved``); this switch decides whether they are hidden.
- ``own_unfollows``: the subscriber unfollows a few accounts in some weeks (``WeeklyRates.unfollows``, in
  about half of the weeks), always accounts they do not interact with. Follows have no delta endpoint
  (x-api/users/follows/introduction.mdx): only the counts in ``users/me`` and re-reads show them.
- ``short_pages``: some pages are shorter than ``max_results`` and still carry ``next_token``
  (x-api/fundamentals/pagination.mdx: "If you get fewer results than max_results, more may still exist
  (continue until no next_token)"; the recorded samples have 2 of a default 10 and 96 of 100).
- ``follow_order_jitter``: following/followers are served mostly newest-follow first but a few entries (about
  one in thirty) sit up to three days lower than their follow time says: the order is "subject to
  unannounced change and eventual consistency" (v1.1 follows docs, quoted in x-api-facts.md).

Always on, not switchable (they are fields a reader asks for): ``connection_status`` on user objects
(``following``, ``followed_by``, relative to the token's user: x-api/fundamentals/data-dictionary.mdx,
"connection_status"; the enum in openapi.json, ``UserConnectionStatus``).
"""

from __future__ import annotations

from dataclasses import dataclass

# one entry in JITTER_EVERY of a follow list is served lower than its follow time says, by up to JITTER_HOURS
JITTER_EVERY = 31
JITTER_HOURS = 72


@dataclass(frozen=True)
class Realism:
    unserved_accounts: bool = True
    own_unfollows: bool = True
    short_pages: bool = True
    follow_order_jitter: bool = True

    @classmethod
    def none(cls) -> Realism:
        """The tidy stand-in: counts equal lists, full pages, strict order, no unfollows."""
        return cls(unserved_accounts=False, own_unfollows=False, short_pages=False, follow_order_jitter=False)


def jitter_micros(user_id: str) -> int:
    """How much lower than its follow time an entry is served (0 for most): deterministic in the id."""
    if not user_id.isdigit():
        return 0
    value = int(user_id)
    if value % JITTER_EVERY:
        return 0
    hours = (value // JITTER_EVERY) % JITTER_HOURS + 1
    return hours * 3_600_000_000 + 1  # + 1 µs: never the same key as an unjittered entry (whole seconds)


def short_page(start: int, size: int) -> int:
    """How many items a page starting at ``start`` leaves out (then carried by the next page): 0 for most."""
    if size < 10 or (start + 1) * 2654435761 % 7 >= 2:  # about two pages in seven, spread by a multiplicative hash
        return 0
    return max(1, size // 25)
