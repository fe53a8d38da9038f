"""``analyze``: one subscriber's activity and history in, the weekly report out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from itertools import repeat
from operator import attrgetter, is_not

from followthrough.activity import Activity, FollowEdge
from followthrough.analysis.chats import chats_to_join
from followthrough.analysis.config import AnalysisConfig
from followthrough.analysis.conversations import pick_conversations
from followthrough.analysis.dms import find_auto_dms
from followthrough.analysis.dormant import dormant_followees
from followthrough.analysis.follows import follow_for_follow, new_followers_not_greeted, passive_follows, people
from followthrough.analysis.followup import follow_up, follow_up_metrics
from followthrough.analysis.interactions import merge_ledger, subscriber_touches, unchecked_without_handle
from followthrough.analysis.mentions import check_mentions
from followthrough.analysis.models import AnalysisResult, History
from followthrough.analysis.posting import hashtag_chats, posting_metrics
from followthrough.analysis.relationships import weekly_relationships
from followthrough.analysis.score import deltas, engagement_score, trends
from followthrough.analysis.untagged import untagged_mentions
from followthrough.report import (
    AutoDms,
    Challenge,
    FollowForFollow,
    HashtagChat,
    PassiveFollow,
    WeeklyReport,
)

# the collector names inputs after X's endpoints; the analysis after what they hold
_INPUT_NAMES = {
    "tweets": "posts",
    "liked_tweets": "likes",
    "users_following": "following",
    "users_followers": "followers",
    "dm": "dm_events",
    "dms": "dm_events",
}

_SINCE = attrgetter("since")
_POST_METRICS = (
    "posts",
    "originals",
    "thread_posts",
    "replies",
    "quotes",
    "retweets",
    "broadcasts",
    "conversation_share",
    "posts_per_day",
    "busiest_day_posts",
    "heavy_days",
    "bursts",
    "twittiarrhea",
    "links_shared",
    "own_links",
    "self_promotion_share",
    "hashtag_chats",
)


def analyze(
    activity: Activity,
    history: History,
    config: AnalysisConfig | None = None,
    *,
    week: str,
    own_domains: Iterable[str] = (),
    time_zone: str = "UTC",
) -> AnalysisResult:
    """The weekly report and the followee-ledger rows that changed.

    Metrics are measured over ``activity.window_start`` .. ``collected_at``;
    passive follows over ``passive_window_days`` with the ledger filling in
    what earlier weeks saw. Inputs named in ``activity.unavailable`` make the
    metrics built on them None (unavailable), never zero.
    """
    cfg = config or AnalysisConfig()
    now, start = activity.collected_at, activity.window_start
    me = activity.subscriber.id
    missing = {_INPUT_NAMES.get(name, name) for name in activity.unavailable}
    has = {name: name not in missing for name in ("posts", "mentions", "likes", "dm_events", "following", "followers")}
    unavailable = set(missing)

    who = people(
        activity.subscriber,
        activity.following,
        activity.followers,
        activity.accounts,
        following_known=has["following"],
        # a followers list holding only its newest part cannot say who does not follow back
        followers_known=has["followers"] and activity.followers_complete,
    )
    usernames = who.username

    likes_checked = has["likes"] and all(like.author_id for like in activity.likes)
    if has["likes"] and not likes_checked:
        unavailable.add("like_authors")
    touches = subscriber_touches(activity)
    merged, ledger_updates = merge_ledger(history.ledger, touches, who.followees)
    mentions = check_mentions(activity.mentions, activity.posts, me, usernames, cfg, start, now)
    metrics: dict[str, float | int | None] = {}

    # passive follows and the challenge need the following list and the posts
    passive: list[PassiveFollow] = []
    passive_count, challenge = 0, Challenge(window_days=cfg.passive_window_days)
    if has["following"] and has["posts"]:
        passive, passive_count, challenge = passive_follows(
            who,
            merged,
            mentions.authors if has["mentions"] else set(),
            cfg,
            now,
            likes_checked=likes_checked,
            limit=max(cfg.list_limit or len(who.followees), cfg.conversations),
            unchecked_without_handle=unchecked_without_handle(activity, now - timedelta(days=cfg.passive_window_days)),
        )
    # judged only where X dated the followees' latest posts (an archive's following list does not)
    dated = has["following"] and any(edge.last_post_at is not None for edge in who.followees.values())
    dormant = dormant_followees(who, activity.likes, activity.mentions, cfg, now) if dated else None
    if dormant:
        # nothing to talk about: not a "say hello" (still counted as passive)
        quiet = {d.user_id for d in dormant}
        passive = [p for p in passive if p.user_id not in quiet]
    metrics["followees"] = len(who.followees) if has["following"] else activity.subscriber.following_count
    metrics["followers"] = (
        len(who.followers) if has["followers"] and activity.followers_complete else activity.subscriber.followers_count
    )
    metrics["passive_follows"] = passive_count if challenge.share is not None else None
    metrics["interacted_followees"] = challenge.interacted if challenge.share is not None else None
    metrics["challenge_share"] = challenge.share
    following, followers = metrics["followees"], metrics["followers"]
    if following is None or followers is None:
        metrics["following_follower_ratio"] = metrics["following_ratio_warning"] = None
    else:
        ratio = following / max(followers, 1)
        metrics["following_follower_ratio"] = round(ratio, 3)
        metrics["following_ratio_warning"] = int(
            following >= cfg.ratio_warning_min_following and ratio >= cfg.ratio_warning
        )

    # new followers: only when the collector could tell when follows began
    new: list[FollowEdge] = []
    not_greeted: list[FollowEdge] = []
    f4f: list[FollowForFollow] = []
    # any edge with a known time (looked at in C: a large account has tens of thousands of followers)
    follow_times_known = any(map(is_not, map(_SINCE, who.followers.values()), repeat(None)))
    # "follower_baseline": the collector's read reached no follower it knew, so none is dated this week
    lost_way = "follower_baseline" in missing
    if has["followers"] and not lost_way and (follow_times_known or not who.followers):
        new, not_greeted = new_followers_not_greeted(who, touches, merged, cfg, start)
        # likely follow-for-follow followers are listed apart: never a welcome, never "not greeted"
        found_f4f = follow_for_follow(who, new, cfg)
        f4f = found_f4f or []
        f4f_ids = {f.user_id for f in f4f}
        not_greeted = [e for e in not_greeted if e.user_id not in f4f_ids]
        metrics["new_followers"], metrics["new_followers_not_greeted"] = len(new), len(not_greeted)
        metrics["follow_for_follow_followers"] = None if found_f4f is None else len(f4f)
        if found_f4f is None:
            unavailable.add("follower_counts")
    else:
        metrics["new_followers"] = metrics["new_followers_not_greeted"] = None
        metrics["follow_for_follow_followers"] = None
        if has["followers"] and not lost_way:
            unavailable.add("follow_times")

    chats: list[HashtagChat] = []
    if has["posts"]:
        metrics.update(posting_metrics(activity.posts, me, own_domains, cfg, start, now))
        chats = hashtag_chats(activity.posts, activity.mentions, me, cfg, start, now)
        metrics["hashtag_chats"] = len(chats)
    else:
        metrics.update(dict.fromkeys(_POST_METRICS))

    mentions_ok = has["mentions"] and has["posts"]
    metrics["mentions_received"] = mentions.received if mentions_ok else None
    metrics["mentions_due"] = mentions.due if mentions_ok else None
    metrics["unanswered_mentions"] = len(mentions.unanswered) if mentions_ok else None
    metrics["response_rate"] = mentions.response_rate if mentions_ok else None
    metrics["median_response_hours"] = mentions.median_response_hours if mentions_ok else None
    if not mentions_ok:
        mentions.unanswered = []

    dms = find_auto_dms(
        activity.dm_events,
        me,
        history.known_dm_conversations,
        who.follower_since,
        usernames,
        cfg,
        start,
        now,
        follower_exact=who.follower_exact,
    )
    metrics["dm_openers_received"] = dms.openers_received if has["dm_events"] else None
    metrics["auto_dms_received"] = len(dms.received) if has["dm_events"] else None
    metrics["auto_dms_sent"] = len(dms.sent) if has["dm_events"] else None

    # relationships need both directions: the subscriber's posts and the mentions of them
    found_relationships, relationship_counts = weekly_relationships(
        activity, who, history.previous_reports, cfg, measured=mentions_ok
    )
    metrics.update(relationship_counts)
    if challenge.share is not None:
        challenge.relationships = relationship_counts["followee_relationships"]
    # the follow-up reads the subscriber's posts (answers, greetings); without them it cannot tell
    followed_up = follow_up(activity, history.previous_reports, history.sent_weeks) if has["posts"] else None
    metrics.update(follow_up_metrics(followed_up, history.previous_reports))
    metrics["engagement_score"] = engagement_score(metrics, cfg)

    to_join = (
        chats_to_join(activity.likes, activity.mentions, activity.posts, me, who.followees, usernames, cfg, time_zone)
        # a chat needs its posts' authors: an archive's likes name few, and it has no mentions
        if (has["likes"] and any(like.author_id for like in activity.likes)) or has["mentions"]
        else None
    )
    untagged = (
        None
        if activity.untagged_mentions is None
        else untagged_mentions(activity.untagged_mentions, activity.subscriber, usernames, cfg.untagged_mentions)
    )
    earlier = history.previous_reports[-(cfg.trend_weeks - 1) :] if cfg.trend_weeks > 1 else []
    challenge.trend = [r.challenge.share for r in earlier] + [challenge.share]
    limit = cfg.list_limit
    report = WeeklyReport(
        subscriber_id=me,
        username=activity.subscriber.username,
        week=week,
        generated_at=now,
        window_start=start,
        window_end=now,
        passive_follows=passive[:limit],
        auto_dms=AutoDms(received=dms.received[:limit], sent=dms.sent[:limit]),
        unanswered_mentions=mentions.unanswered[:limit],
        conversations=pick_conversations(
            mentions.unanswered, passive, not_greeted, usernames, now, cfg.conversations, cfg.conversation_mentions
        ),
        challenge=challenge,
        metrics=metrics,
        deltas=deltas(metrics, history.previous_reports),
        trends=trends(metrics, history.previous_reports, cfg.trend_weeks),
        hashtag_chats=chats[:limit],
        unavailable=sorted(unavailable),
        follow_up=followed_up,
        relationships=found_relationships[:limit],
        follow_for_follow=f4f[:limit],
        dormant_followees=None if dormant is None else dormant[:limit],
        dormant_followee_count=None if dormant is None else len(dormant),
        chats_to_join=to_join,
        untagged_mentions=untagged,
        following_as_of=activity.following_as_of,
    )
    return AnalysisResult(
        report=report,
        ledger_updates=ledger_updates,
        dm_conversation_updates=dms.new_conversations if has["dm_events"] else {},
    )
