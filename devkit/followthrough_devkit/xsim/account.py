"""What the generator produces: one subscriber's X world and the facts planted in it.

The wire objects are ``followthrough.xmodels`` models, built with
``model_construct`` (the generator makes them valid by construction, and a
50,000-follower account must build in well under two seconds). The planted
facts are what a correct analysis must find; tests compare detectors with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from followthrough.analysis.models import InteractionKind
from followthrough.xmodels import XDmEvent, XTweet, XUser


@dataclass
class HashtagChat:
    """A burst of posts with one hashtag within an hour, by the subscriber and others."""

    tag: str
    start: datetime
    end: datetime
    subscriber_post_ids: list[str] = field(default_factory=list)
    other_post_ids: list[str] = field(default_factory=list)


@dataclass
class WeeklyChat:
    """A hashtag chat among some of the subscriber's followees (and others) at one weekday and hour, every week."""

    tag: str
    weekday: int  # UTC, 0 = Monday
    hour: int  # UTC
    followee_ids: list[str] = field(default_factory=list)
    other_ids: list[str] = field(default_factory=list)
    takes_part: bool = False  # the subscriber posts in it
    post_ids: list[str] = field(default_factory=list)


@dataclass
class DmNegatives:
    """DM conversations that look a little like automated DMs but are not."""

    # a friend who sends one link in the middle of a real exchange
    friend_link_sender_id: str = ""
    friend_link_event_id: str = ""
    # two people who say "thanks for the follow", each in their own words, and get an answer
    thanks_for_follow_sender_ids: list[str] = field(default_factory=list)
    thanks_for_follow_event_ids: list[str] = field(default_factory=list)
    # a long real exchange whose first message is a link
    long_exchange_conversation_id: str = ""
    long_exchange_first_event_id: str = ""
    long_exchange_partner_id: str = ""


@dataclass
class PlantedFacts:
    """Ground truth about a synthetic account.

    Interactions are the subscriber's own actions towards a followee: a reply to
    them, a mention of them (outside retweets), a like or retweet or quote of
    their post, or a DM the subscriber sent in a one-to-one conversation with
    them. Times are the latest such action, so a test can apply its own window
    (and the API's reach limits: newest 3,200 posts, DMs of the last 30 days).
    """

    passive_follow_ids: set[str] = field(default_factory=set)
    followee_interactions: dict[str, dict[InteractionKind, datetime]] = field(default_factory=dict)
    mutual_ids: set[str] = field(default_factory=set)
    # passive followees who mentioned the subscriber (inbound only, never answered)
    passive_followees_mentioning: set[str] = field(default_factory=set)
    auto_dm_sender_ids: set[str] = field(default_factory=set)
    auto_dm_event_ids: set[str] = field(default_factory=set)
    own_auto_dm_recipient_ids: set[str] = field(default_factory=set)
    own_auto_dm_event_ids: set[str] = field(default_factory=set)
    # mention id -> the subscriber's reply to it
    answered_mentions: dict[str, str] = field(default_factory=dict)
    unanswered_mention_ids: set[str] = field(default_factory=set)
    # mentions the subscriber liked but did not reply to (still unanswered)
    liked_mention_ids: set[str] = field(default_factory=set)
    dm_negatives: DmNegatives = field(default_factory=DmNegatives)
    hashtag_chats: list[HashtagChat] = field(default_factory=list)
    own_link_post_ids: set[str] = field(default_factory=set)
    self_reply_ids: set[str] = field(default_factory=set)
    # issue 15. New followers planted as follow-for-follow accounts (thousands followed, few followers);
    # ordinary new followers of ``advance_week`` never come near that profile.
    follow_for_follow_ids: set[str] = field(default_factory=set)
    # people planted each week as relationships (two or three posts each way in that week)
    planted_relationship_ids: set[str] = field(default_factory=set)
    # suggestions the subscriber took up (``take_up``): user id -> when
    taken_up: dict[str, datetime] = field(default_factory=dict)
    # followees planted quiet (they post nothing in the data) -> their last post; the dormant ones (last post
    # more than 90 days before the anchor) are derived from it
    quiet_followees: dict[str, datetime] = field(default_factory=dict)
    dormant_followee_ids: set[str] = field(default_factory=set)
    weekly_chats: list[WeeklyChat] = field(default_factory=list)
    # a recurring topic hashtag liked at all hours: not a chat
    topic_tags: list[str] = field(default_factory=list)
    # posts naming the subscriber by handle or display name without tagging them (``untagged_posts``), and the
    # questions among them
    untagged_mention_ids: set[str] = field(default_factory=set)
    untagged_question_ids: set[str] = field(default_factory=set)

    @property
    def answered_mention_ids(self) -> set[str]:
        return set(self.answered_mentions)

    @property
    def interacted_followee_ids(self) -> set[str]:
        return set(self.followee_interactions)


@dataclass
class WeekDelta:
    """What one ``advance_week`` added: the least a perfect incremental reader must fetch."""

    start: datetime
    end: datetime
    post_ids: list[str] = field(default_factory=list)
    mention_ids: list[str] = field(default_factory=list)
    liked_post_ids: list[str] = field(default_factory=list)
    dm_event_ids: list[str] = field(default_factory=list)
    new_following_ids: list[str] = field(default_factory=list)
    new_follower_ids: list[str] = field(default_factory=list)
    lost_follower_ids: list[str] = field(default_factory=list)
    # accounts the subscriber stopped following this week
    unfollowed_ids: list[str] = field(default_factory=list)
    # mentions from before this week that the subscriber answered this week
    late_answered_mention_ids: list[str] = field(default_factory=list)
    auto_dm_sender_ids: list[str] = field(default_factory=list)

    @property
    def new_resource_count(self) -> int:
        """Resources a reader that fetches only what is new must still receive."""
        return (
            len(self.post_ids)
            + len(self.mention_ids)
            + len(self.liked_post_ids)
            + len(self.dm_event_ids)
            + len(self.new_following_ids)
            + len(self.new_follower_ids)
        )


@dataclass
class SyntheticAccount:
    """One subscriber's X world. Every list is newest first, as X serves it.

    DM events carry ``participant_ids`` only on ParticipantsJoin/Leave events,
    as on X; a one-to-one conversation names both people in its id
    ("<lower id>-<higher id>").
    """

    seed: int
    profile: str
    anchor: datetime
    me: XUser
    posts: list[XTweet]
    mentions: list[XTweet]
    likes: list[XTweet]
    following: list[XUser]
    followers: list[XUser]
    # followee id -> when the subscriber followed them
    follow_times: dict[str, datetime]
    # follower id -> when they followed the subscriber
    follower_times: dict[str, datetime]
    # liked post id -> when the subscriber liked it (X does not serve this)
    like_times: dict[str, datetime]
    dm_events: list[XDmEvent]
    users: dict[str, XUser]
    referenced: dict[str, XTweet]
    own_domains: list[str]
    truth: PlantedFacts
    weeks: list[WeekDelta] = field(default_factory=list)
    # followees and followers counted in ``me.public_metrics`` that X's lists would not serve (suspended,
    # deactivated); the stand-in hides them when ``Realism.unserved_accounts`` is on
    unserved: set[str] = field(default_factory=set)
    # others' posts that only X's search finds (they name the subscriber without tagging them), newest first
    untagged_posts: list[XTweet] = field(default_factory=list)
    # bumped on every change, so servers can drop derived indexes
    version: int = 0
    # a server's derived indexes: name -> (version they were built at, index); they go with the account
    indexes: dict[str, tuple[int, object]] = field(default_factory=dict, repr=False, compare=False)
    # generator bookkeeping for advance_week (pools, used ids)
    state: object = field(default=None, repr=False, compare=False)

    @property
    def user_id(self) -> str:
        return self.me.id

    @property
    def username(self) -> str:
        return self.me.username
