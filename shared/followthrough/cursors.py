"""What the collector remembers between runs, per subscriber and endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class EndpointCursor(BaseModel):
    # newest post id seen (posts, mentions): the next run's since_id
    since_id: str | None = None
    # newest ids seen at the top of a newest-first list (likes, DMs, follows):
    # reading stops at the first of these
    known_head: list[str] = []
    # pagination token to resume an interrupted read (429 / budget) without re-reading
    resume_token: str | None = None
    # the head of the interrupted read, kept until the read completes
    pending_head: list[str] = []
    # posts, mentions: the since_id / start_time the resumable read was asked with (its token needs them)
    resume_query: dict[str, str] = {}
    # lists read down to a known id: how many new items the interrupted read found before it stopped
    # (None: a first or full read); its rest, the week's expectation less these, sizes the pages that
    # continue it (a larger page reaches past the known id into what was read before)
    resume_found: int | None = None
    # the week the resume state belongs to: a later week reads what is new, then this backlog
    resume_week: str | None = None
    # what a read interrupted in an earlier week still owes (older than anything read since): its
    # pagination token and, for posts and mentions, its query; read first, so only one gap is ever open
    backlog_token: str | None = None
    backlog_query: dict[str, str] = {}
    backlog_found: int | None = None
    # how many new items the last complete read found
    last_new: int = 0
    # how many new items a week usually brings: sizes the next first page
    weekly_estimate: int | None = None
    # follow lists: the count X reported at the last read, and how many left
    # since (new found minus the growth of the count): together they size the
    # next read even when only part of a huge list is known
    last_reported: int | None = None
    lost_estimate: int = 0
    completed_at: datetime | None = None
    # the week whose read finished: a rerun in that week (a redelivered or
    # requeued message) does not ask again for what it already has
    done_week: str | None = None

    def start_week(self, week: str, *, paged_by_since_id: bool) -> bool:
        """Turn resume state left by an earlier week into a backlog; True when something was dropped (a gap).

        Resuming the old pagination first thing would skip everything newer
        than where it began, so this week's read starts at the top again and
        stops where the interrupted one began (its head); the old pagination
        is kept as the backlog, read before it, down to where it was going.
        """
        if self.resume_week == week or not (self.resume_token or self.pending_head):
            self.resume_week = week
            return False
        gap = False
        if self.pending_head:
            if paged_by_since_id:
                self.since_id = self.pending_head[0]
            else:
                self.known_head = self.pending_head + self.known_head
        if self.resume_token:
            if self.backlog_token:  # cannot happen while backlogs are read first; never silently lose one
                gap = True
            self.backlog_token = self.resume_token
            self.backlog_query = dict(self.resume_query)  # a token continues its own query only
            self.backlog_found = self.resume_found
        self.resume_token = None
        self.resume_query = {}
        self.resume_found = None
        self.pending_head = []
        self.resume_week = week
        return gap


class FolloweeCheck(BaseModel):
    """How far the stored followee set agrees with X (pipeline/followees.py)."""

    # accounts X's following_count counts but the list does not serve (suspended, deactivated): learned when
    # the whole list is read in one run, then tolerated
    offset: int | None = None
    # X's count minus (the known set + offset) after the last run: < 0 accounts gone that are not identified
    # yet, > 0 follows no read has found yet; 0: the set agrees with X
    drift: int = 0
    # when the set last agreed with X's count: the digest's "as of" while it does not
    agreed_at: datetime | None = None
    # the re-read's allowance (USD), accrued once a week (``accrued_week``) up to one whole list
    allowance_usd: float = 0.0
    accrued_week: str | None = None
    # a re-read of the whole list in progress: where it stopped, when it began, the ids it has seen
    reread_token: str | None = None
    reread_started_at: datetime | None = None
    reread_seen: list[str] = []
    # the subscriber holds X Activity API follow subscriptions (decided again at each run, before the reads):
    # X tells every follow and unfollow, so a count that agrees once the events are applied needs no read
    told_by_events: bool = False

    @property
    def rereading(self) -> bool:
        return self.reread_started_at is not None


class Cursors(BaseModel):
    endpoints: dict[str, EndpointCursor] = {}
    followees: FolloweeCheck = FolloweeCheck()
    # the followers list holds only its newest part (a first run reads just the top: followers_partial)
    followers_partial: bool = False
    # the week whose followers read reached no follower it knew: what it read became the known part,
    # undated, and that week's new followers are not measured (pipeline/collect.py, _new_followers)
    followers_undated_week: str | None = None
    # users/me as read at the start of ``me_week``: a rerun that week reuses it
    me: dict[str, Any] | None = None
    me_week: str | None = None
    last_full_followers_read: datetime | None = None
    # the stored X Activity API follow events already applied to the follow lists (pipeline/collect.py):
    # by id, not by time, so one stored late (a webhook racing a collect) is applied all the same
    follow_events_applied: list[str] = []
    version: int = 0

    def get(self, endpoint: str) -> EndpointCursor:
        return self.endpoints.setdefault(endpoint, EndpointCursor())


class Spend(BaseModel):
    """X API spend of one subscriber-week, by endpoint."""

    requests: dict[str, int] = {}
    resources: dict[str, int] = {}
    usd: dict[str, float] = {}
    # reads not made, "<endpoint>: <why>": what they feed is unavailable this week
    skipped: list[str] = []
    # things the subscriber should know about this week's reading, nothing missing
    notes: list[str] = []

    @property
    def total_usd(self) -> float:
        return round(sum(self.usd.values()), 4)

    def add(self, endpoint: str, resources: int, usd: float) -> None:
        self.requests[endpoint] = self.requests.get(endpoint, 0) + 1
        self.resources[endpoint] = self.resources.get(endpoint, 0) + resources
        self.usd[endpoint] = round(self.usd.get(endpoint, 0.0) + usd, 6)
