"""Every threshold of the analysis, in one model with documented defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AnalysisConfig(BaseModel):
    """Thresholds and weights of the weekly analysis.

    Windows and thresholds
    ----------------------
    - ``passive_window_days`` (90): a followee is a *passive follow* when the
      subscriber has not replied to, mentioned, retweeted, quoted, liked or
      DMed them for this many days. The same window measures the "@reply
      everyone you follow" challenge.
    - ``new_follow_grace_days`` (90): followees first seen less than this many
      days ago are not called passive yet (unknown follow times count as old).
    - ``unanswered_grace_hours`` (48): a mention by someone else (not a
      retweet) is *unanswered* when the subscriber has not replied to it within
      this many hours. A mention is counted in the week its grace period ends,
      so each mention is reported once.
    - ``follow_seen_slack_days`` (7): follow times are "first seen" times of a
      weekly collection, so a follow may have happened up to this long before
      it was seen. Used when judging "DM sent right after following you" and
      "new follower greeted".
    - ``follow_dm_max_delay_hours`` (24): a DM counts as sent right after a
      follow when it arrived at most this long after the follow was seen (and
      at most ``follow_seen_slack_days`` before).
    - ``follow_event_slack_s`` (60): a follow dated by an X Activity API event
      (``FollowEdge.exact``) has no weekly slack, only this much for the
      difference between X's DM times and when our webhook heard of the follow.
    - ``burst_posts`` (5) within ``burst_minutes`` (15): a *burst* of posts
      that land in followers' timelines (originals, quotes, retweets; replies
      and thread continuations excluded).
    - ``twittiarrhea_posts_per_day`` (20): days with more posts than this are
      *heavy days*; any heavy day or burst sets ``twittiarrhea`` to 1.
    - ``hashtag_chat_min_posts`` (3) within ``hashtag_chat_minutes`` (60) with
      at least ``hashtag_chat_min_others`` (1) other participants (people
      replied to, mentioned or quoted in those posts, or who mentioned the
      subscriber with the same hashtag in that hour): one *hashtag chat*.
    - ``ratio_warning`` (2.0) and ``ratio_warning_min_following`` (100): warn
      when the subscriber follows at least that many accounts and at least
      ``ratio_warning`` times as many as follow them.
    - ``active_posts_per_day`` (0.1): a followee whose lifetime average is at
      least this many posts a day counts as *active* when ranking.

    Follow-through, relationships, follow-for-follow (issue 15)
    -----------------------------------------------------------
    - Each conversation the last digest actually sent suggested is *done* when
      the subscriber acted towards that person after that digest's report was
      made: a mention is done when answered (a reply to it, or a reply,
      mention, quote or DM to its author); a "say hello" or "welcome" when the
      subscriber replied to, mentioned, quoted, DMed or liked them. One not
      done is carried forward to the next digest once, then *expired*.
      ``followup_rate`` is done / suggested (the carried ones included);
      ``followup_streak`` counts the digests in a row with at least one done.
    - ``relationship_min_each_way`` (2): a *relationship* is someone the
      subscriber directed at least this many posts or DMs to (replies,
      mentions, quotes; one-to-one DMs) and who directed as many to them
      (mentions, replies, DMs), within the report's window (after Huberman,
      Romero and Wu's "friends"). ``new_relationship_days`` (28): a
      relationship first seen within this many days is *new this month* (never
      in the first report: everything is new then).
    - ``f4f_min_following`` (2000) and ``f4f_min_ratio`` (3.0): a new follower
      who follows at least that many accounts and at least ``f4f_min_ratio``
      times as many as follow them is a *likely follow-for-follow* account
      (the essay: "I don't even follow people back that follow me if I see
      that they're following thousands"). They are listed apart, never
      suggested as a welcome and not counted as new followers never greeted.
      Needs the follower's counts (X's follower list gives ``public_metrics``
      with ``user.fields``, no extra read).
    Followees with nothing to talk about, chats worth joining, untagged mentions
    ------------------------------------------------------------------------------
    - ``dormant_after_days`` (90): a followee whose latest post (X's
      ``most_recent_tweet_id`` when it last served them, or a newer post of
      theirs in the week's likes and mentions) is older than this is not
      suggested as a "say hello" and is listed as a candidate to unfollow.
    - ``chat_min_weeks`` (2), ``chat_min_authors`` (3), ``chat_min_followees``
      (1), ``chat_hour_slack`` (1): a hashtag in the posts the subscriber
      liked and the mentions they got is a *likely weekly chat* when its posts
      fall on one local weekday within ``chat_hour_slack`` hours of one hour,
      in at least ``chat_min_weeks`` distinct weeks, by at least
      ``chat_min_authors`` distinct people of whom ``chat_min_followees`` are
      followees. At most ``chats_to_join`` (2) are suggested.
    - ``untagged_mentions`` (5): how many untagged mentions the digest shows.

    Automated DMs
    -------------
    Each incoming conversation opener is scored by adding the weights of the
    signals that fire (capped at 1.0) and reported when the sum reaches
    ``auto_dm_min_confidence`` (0.6):

    ======================================  ====================  =======
    signal                                  weight field          default
    ======================================  ====================  =======
    first message of a new conversation     ``w_first_message``   0.10
    sent right after the sender followed    ``w_after_follow``    0.25
    contains a link                         ``w_link``            0.15
    contains a call to action               ``w_call_to_action``  0.15
    no back-and-forth with the sender       ``w_no_follow_up``    0.15
    same masked text as other senders       ``w_duplicate``       0.40
    ======================================  ====================  =======

    An opener followed by a real exchange (the sender wrote back after the
    subscriber replied) is reported only when other senders sent the same
    masked text. So a friend's single link (0.40) or a long exchange that
    starts with a link stays unreported, while a templated opener sent to
    many people, or a link plus a pitch sent right after following, is
    reported. ``duplicate_min_words`` (5) ignores short stock phrases
    ("thanks!") for the duplicate signals; ``duplicate_min_other_senders`` (1)
    is how many *other* senders must have sent the same masked text.
    ``auto_dm_sent_min_recipients`` (3): the subscriber sending one masked
    text to this many people is flagged as automated DMs sent.

    Ranking passive follows (``rank_score``)
    ----------------------------------------
    ``rank_w_mentioned_you`` (3.0) if they mentioned the subscriber in the
    data at hand + ``rank_w_follows_back`` (2.0) if they follow back +
    ``rank_w_active`` (1.0) if they are active + ``rank_w_tenure`` (1.0) x
    years followed (capped at 1; unknown follow time counts as
    ``passive_window_days``). Ties break on the longest followed, then the id.

    Engagement score (0-100)
    ------------------------
    A weighted mean of the components that could be measured this week, in
    percent, minus penalties, clamped to 0..100 and rounded::

        score = 100 * sum(w_i * c_i) / sum(w_i)   (over available c_i)
                - penalty_auto_dm_sent * campaigns (at most 2)
                - penalty_twittiarrhea * twittiarrhea

    ===============================================  ========================  =======
    component c_i (each 0..1)                        weight field              default
    ===============================================  ========================  =======
    conversation_share: (replies + quotes) /         ``score_w_conversation``  30
    (replies + quotes + broadcasts)
    response_rate: mentions answered within          ``score_w_response``      25
    ``unanswered_grace_hours``
    reach-out: min(1, challenge share /              ``score_w_reach_out``     25
    ``challenge_target``), target 0.5
    welcome: new followers greeted / new followers   ``score_w_welcome``       10
    own voice: 1 - self_promotion_share              ``score_w_own_voice``     10
    ===============================================  ========================  =======

    Penalties: ``penalty_auto_dm_sent`` (10) per flagged automated-DM
    campaign (at most two counted), ``penalty_twittiarrhea`` (5). The score is
    None when no component could be measured.

    Report size
    -----------
    ``list_limit`` (100) caps each list in the report (passive follows,
    automated DMs, unanswered mentions) so a stored report stays small; the
    metrics always count everything. ``conversations`` (5) is how many
    conversations the digest suggests, of which at most
    ``conversation_mentions`` (3) answer mentions while there are people to
    greet or welcome (a village has more than one kind of conversation);
    ``trend_weeks`` (8) how many weeks the trends span, this one included.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    passive_window_days: int = Field(90, ge=1)
    new_follow_grace_days: int = Field(90, ge=0)
    unanswered_grace_hours: float = Field(48, gt=0)
    follow_seen_slack_days: float = Field(7, ge=0)
    follow_dm_max_delay_hours: float = Field(24, ge=0)
    follow_event_slack_s: float = Field(60, ge=0)

    burst_posts: int = Field(5, ge=2)
    burst_minutes: float = Field(15, gt=0)
    twittiarrhea_posts_per_day: int = Field(20, ge=1)

    hashtag_chat_min_posts: int = Field(3, ge=2)
    hashtag_chat_minutes: float = Field(60, gt=0)
    hashtag_chat_min_others: int = Field(1, ge=1)

    dormant_after_days: int = Field(90, ge=1)
    chat_min_weeks: int = Field(2, ge=1)
    chat_min_authors: int = Field(3, ge=1)
    chat_min_followees: int = Field(1, ge=0)
    chat_hour_slack: int = Field(1, ge=0, le=3)
    chats_to_join: int = Field(2, ge=0)
    untagged_mentions: int = Field(5, ge=0)

    ratio_warning: float = Field(2.0, gt=0)
    ratio_warning_min_following: int = Field(100, ge=0)
    active_posts_per_day: float = Field(0.1, ge=0)

    auto_dm_min_confidence: float = Field(0.6, ge=0, le=1)
    w_first_message: float = Field(0.10, ge=0, le=1)
    w_after_follow: float = Field(0.25, ge=0, le=1)
    w_link: float = Field(0.15, ge=0, le=1)
    w_call_to_action: float = Field(0.15, ge=0, le=1)
    w_no_follow_up: float = Field(0.15, ge=0, le=1)
    w_duplicate: float = Field(0.40, ge=0, le=1)
    duplicate_min_words: int = Field(5, ge=1)
    duplicate_min_other_senders: int = Field(1, ge=1)
    auto_dm_sent_min_recipients: int = Field(3, ge=2)

    rank_w_mentioned_you: float = 3.0
    rank_w_follows_back: float = 2.0
    rank_w_active: float = 1.0
    rank_w_tenure: float = 1.0

    score_w_conversation: float = Field(30, ge=0)
    score_w_response: float = Field(25, ge=0)
    score_w_reach_out: float = Field(25, ge=0)
    score_w_welcome: float = Field(10, ge=0)
    score_w_own_voice: float = Field(10, ge=0)
    challenge_target: float = Field(0.5, gt=0, le=1)
    penalty_auto_dm_sent: float = Field(10, ge=0)
    penalty_twittiarrhea: float = Field(5, ge=0)

    relationship_min_each_way: int = Field(2, ge=1)
    new_relationship_days: int = Field(28, ge=1)
    f4f_min_following: int = Field(2000, ge=1)
    f4f_min_ratio: float = Field(3.0, gt=0)

    list_limit: int | None = Field(100, ge=1)
    conversations: int = Field(5, ge=0)
    conversation_mentions: int = Field(3, ge=0)
    trend_weeks: int = Field(8, ge=1)
