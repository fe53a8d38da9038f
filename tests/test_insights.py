"""Issue 15 (part B) against planted truth: followees with nothing to talk about, chats worth joining, and
mentions without the @ (opt-in, within the budget, priced by the stand-in's meter).

The scenarios collect a seeded world through the X stand-in (loopback) into the in-memory twins; the units
feed the analysis hand-made activity for the edges a seeded world does not reach.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from followthrough.activity import Account, Activity, FollowEdge, Like, Post
from followthrough.analysis import History, analyze
from followthrough.analysis.config import AnalysisConfig
from followthrough.config import CollectorConfig
from followthrough.pipeline.collect import CollectResult
from followthrough.report import WeeklyReport
from followthrough_devkit.demo import DemoWorld
from followthrough_devkit.xsim import SyntheticAccount
from tests.support.world import NOW, collect_request, collect_world_fixture, twins_fixture  # noqa: F401 (fixtures)

ZONE = "America/New_York"


def _precision(found: set[str], truth: set[str]) -> float:
    return len(found & truth) / len(found) if found else 1.0


def _account(world: DemoWorld) -> SyntheticAccount:
    assert world.subscriber.x_user_id is not None
    return world.sim.accounts[world.subscriber.x_user_id]


def _collect(world: DemoWorld, week: str = "2026-W48", **settings: object) -> tuple[CollectResult, WeeklyReport]:
    subscribers = world.services.repositories.subscribers
    current = subscribers.get_subscriber(world.subscriber.subscriber_id)
    assert current is not None
    subscribers.put_subscriber(current.model_copy(update={"time_zone": ZONE, **settings}))
    result = world.services.collect.run(collect_request(world, week))
    assert result.status == "collected", result.reason
    assert result.report is not None
    return result, result.report


# ----- followees with nothing to talk about ----------------------------------------------------------


def test_dormant_followees_are_found_and_never_suggested_for_a_hello(world: DemoWorld) -> None:
    _, report = _collect(world)
    truth = _account(world).truth
    assert report.dormant_followees is not None
    found = {d.user_id for d in report.dormant_followees}
    assert truth.dormant_followee_ids and _precision(found, truth.dormant_followee_ids) >= 0.9
    assert len(found & truth.dormant_followee_ids) >= 0.9 * len(truth.dormant_followee_ids)
    assert report.dormant_followee_count == len(found)
    quiet_not_dormant = set(truth.quiet_followees) - truth.dormant_followee_ids
    assert quiet_not_dormant and not found & quiet_not_dormant  # quiet for weeks is not dormant
    assert all(d.last_post_at < NOW - timedelta(days=90) for d in report.dormant_followees)
    greeted = {c.user_id for c in report.conversations if c.kind == "greet_followee"}
    assert not greeted & found and not {p.user_id for p in report.passive_follows} & found


def test_dormant_followees_stay_right_a_week_later_without_rereading_the_following_list(world: DemoWorld) -> None:
    _collect(world)
    world.sim.advance_week(seed=3)
    world.sim.meter.reset()
    _, report = _collect(world, "2026-W49")
    truth = _account(world).truth
    assert world.sim.meter.snapshot()["following"]["resources"] < len(_account(world).following) / 2
    found = {d.user_id for d in report.dormant_followees or []}
    assert _precision(found, truth.dormant_followee_ids) >= 0.9
    assert len(found & truth.dormant_followee_ids) >= 0.9 * len(truth.dormant_followee_ids)


def _activity(**fields: object) -> Activity:
    values: dict[str, object] = {
        "subscriber": Account(id="1", username="ann", name="Ann Lee"),
        "collected_at": NOW,
        "window_start": NOW - timedelta(days=7),
    }
    values.update(fields)
    return Activity.model_validate(values)


def test_a_newer_post_in_the_likes_or_mentions_outweighs_what_x_said_at_the_last_read() -> None:
    long_ago = NOW - timedelta(days=400)
    following = [FollowEdge(user_id=uid, username=f"u{uid}", last_post_at=long_ago) for uid in ("2", "3", "4")]
    following.append(FollowEdge(user_id="5", username="u5"))  # X never dated their last post: not judged
    activity = _activity(
        following=following,
        likes=[Like(post_id="70", author_id="2", post_created_at=NOW - timedelta(days=3), seen_at=NOW)],
        mentions=[Post(id="71", author_id="3", created_at=NOW - timedelta(days=2), mentioned_ids=["1"])],
    )
    report = analyze(activity, History(), week="2026-W48").report
    assert [d.user_id for d in report.dormant_followees or []] == ["4"]
    assert report.dormant_followees is not None and report.dormant_followees[0].last_post_at == long_ago
    assert analyze(activity, History(), AnalysisConfig(dormant_after_days=500), week="w").report.dormant_followees == []
    unread = analyze(activity.model_copy(update={"unavailable": ["users_following"]}), History(), week="w").report
    assert unread.dormant_followees is None  # not looked at, not "none"


# ----- chats worth joining ---------------------------------------------------------------------------


def _local_slot(weekday: int, hour: int, zone: str) -> tuple[int, int]:
    """A UTC weekday and hour as the subscriber's local ones, in the week of NOW (no DST change then)."""
    monday = datetime(2026, 11, 16, tzinfo=UTC)
    local = (monday + timedelta(days=weekday, hours=hour)).astimezone(ZoneInfo(zone))
    return local.weekday(), local.hour


def test_weekly_chats_among_followees_are_suggested_in_the_subscribers_time(world: DemoWorld) -> None:
    _, report = _collect(world)
    truth = _account(world).truth
    planted = {c.tag.lower(): c for c in truth.weekly_chats}
    assert report.chats_to_join is not None and 0 < len(report.chats_to_join) <= 2
    found = {c.hashtag.lower() for c in report.chats_to_join}
    assert _precision(found, set(planted)) >= 0.9
    assert not found & {t.lower() for t in truth.topic_tags}  # liked at every hour: a topic, not a chat
    assert not found & {c.tag.lower() for c in truth.hashtag_chats}  # one evening only: not weekly
    for chat in report.chats_to_join:
        plant = planted[chat.hashtag.lower()]
        assert (chat.weekday, chat.hour) == _local_slot(plant.weekday, plant.hour, ZONE)
        assert chat.time_zone == ZONE and chat.takes_part == plant.takes_part
        assert chat.followees == len(plant.followee_ids) and chat.weeks >= 2


def _chat_like(n: int, author: str, at: datetime, tag: str = "BufferChat") -> Like:
    return Like(post_id=str(100 + n), author_id=author, post_created_at=at, seen_at=NOW, hashtags=[tag])


def test_no_chat_without_a_followee_a_second_week_or_a_steady_hour() -> None:
    tuesday = datetime(2026, 11, 17, 21, 10, tzinfo=UTC)
    followees = [FollowEdge(user_id="2"), FollowEdge(user_id="3")]
    weekly = [_chat_like(i, author, tuesday - timedelta(weeks=i % 2)) for i, author in enumerate("2349")]
    report = analyze(_activity(following=followees, likes=weekly), History(), week="w").report
    assert [c.hashtag for c in report.chats_to_join or []] == ["BufferChat"]
    assert report.chats_to_join and report.chats_to_join[0].followees == 2
    strangers = analyze(_activity(following=[FollowEdge(user_id="8")], likes=weekly), History(), week="w").report
    assert strangers.chats_to_join == []
    one_week = [_chat_like(i, author, tuesday) for i, author in enumerate("2349")]
    assert analyze(_activity(following=followees, likes=one_week), History(), week="w").report.chats_to_join == []
    spread = [_chat_like(i, "2349"[i % 4], tuesday - timedelta(hours=13 * i)) for i in range(12)]
    assert analyze(_activity(following=followees, likes=spread), History(), week="w").report.chats_to_join == []


# ----- mentions without the @ ------------------------------------------------------------------------


def test_the_search_is_off_until_the_subscriber_turns_it_on(world: DemoWorld) -> None:
    result, report = _collect(world)
    assert "search_recent" not in world.sim.meter.snapshot()
    assert report.untagged_mentions is None and "search_recent" not in result.spend.usd


def test_untagged_mentions_when_opted_in_with_their_cost_in_the_spend_record(world: DemoWorld) -> None:
    result, report = _collect(world, opted_in_reads=["search_recent"])
    truth = _account(world).truth
    served = world.sim.meter.snapshot()["search_recent"]
    assert served["resources"] > 0 and served["resource_ids_returned_twice"] == 0
    assert result.spend.resources["search_recent"] == served["resources"]
    assert result.spend.usd["search_recent"] == pytest.approx(served["resources"] * 0.005)
    assert report.untagged_mentions
    found = {m.tweet_id for m in report.untagged_mentions}
    assert found <= truth.untagged_mention_ids
    assert all(m.created_at and m.created_at >= NOW - timedelta(days=7) for m in report.untagged_mentions)
    flags = [m.is_question for m in report.untagged_mentions]
    assert flags == sorted(flags, reverse=True)  # questions first
    assert {m.tweet_id for m in report.untagged_mentions if m.is_question} <= truth.untagged_question_ids


def test_the_search_stays_within_its_share_of_the_budget(world: DemoWorld) -> None:
    # ten posts (the smallest page X serves) cost $0.05: a $0.04 share cannot pay for one page
    world.services.collector.config = CollectorConfig(untagged_search_usd=0.04)
    result, report = _collect(world, opted_in_reads=["search_recent"])
    assert "search_recent" not in world.sim.meter.snapshot()  # not asked at all
    assert any(s.startswith("search_recent:") for s in result.spend.skipped)
    assert report.untagged_mentions is None and "search_recent" in report.unavailable
