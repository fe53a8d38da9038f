"""Issue 15's analysis on small worlds: the follow-up's rules, relationships, follow-for-follow followers."""

from __future__ import annotations

from datetime import datetime, timedelta

from followthrough.activity import Account
from followthrough.analysis.config import AnalysisConfig
from followthrough.analysis.models import History
from followthrough.report import Conversation, FollowUp, FollowUpItem, WeeklyReport
from tests.support.analysis import ME, NOW, World, ago

LAST_WEEK = NOW - timedelta(days=7)


def sent_report(
    week: str, conversations: list[Conversation], *, at: datetime = LAST_WEEK, follow_up: FollowUp | None = None
) -> WeeklyReport:
    return WeeklyReport(subscriber_id=ME, week=week, generated_at=at, conversations=conversations, follow_up=follow_up)


def answer(user_id: str, post_id: str) -> Conversation:
    return Conversation(
        kind="answer_mention", user_id=user_id, url=f"https://x.com/i/status/{post_id}", reason="", post_id=post_id
    )


def greet(user_id: str) -> Conversation:
    return Conversation(kind="greet_followee", user_id=user_id, url=f"https://x.com/i/user/{user_id}", reason="")


def states(report: WeeklyReport) -> dict[str, str]:
    assert report.follow_up is not None
    return {i.user_id: i.state for i in report.follow_up.items}


def test_a_like_greets_but_does_not_answer_a_mention() -> None:
    w = World()
    w.follow("1")
    w.follow("2")
    w.like("1", ago(days=2))  # likes the mention's author: not an answer
    w.like("2", ago(days=2))
    base = sent_report("2026-W46", [answer("1", "501"), greet("2")])
    report = w.analyze(History(previous_reports=[base], sent_weeks={"2026-W46"})).report
    assert states(report) == {"1": "open", "2": "done"}
    assert report.metrics["followup_rate"] == 0.5 and report.metrics["followup_streak"] == 1


def test_a_mention_is_answered_by_a_reply_to_it_and_before_the_digest_does_not_count() -> None:
    w = World()
    w.post(LAST_WEEK - timedelta(hours=1), kind="reply", to="9", replied_to_id="777")  # before the digest
    reply = w.post(ago(days=3), kind="reply", to="8", replied_to_id="501")  # X: in reply to the mention
    base = sent_report("2026-W46", [answer("1", "501"), answer("9", "777")])
    report = w.analyze(History(previous_reports=[base], sent_weeks={"2026-W46"})).report
    assert states(report) == {"1": "done", "9": "open"}
    assert report.follow_up is not None
    done = report.follow_up.in_state("done")[0]
    assert done.done_at == reply.created_at and done.done_by == "reply"


def test_open_items_are_carried_once_then_expire() -> None:
    w = World()
    carried = FollowUp(
        base_week="2026-W45",
        items=[
            FollowUpItem(kind="greet_followee", user_id="3", suggested_week="2026-W45", state="open"),
            FollowUpItem(kind="greet_followee", user_id="4", suggested_week="2026-W45", state="open"),
            FollowUpItem(kind="greet_followee", user_id="5", suggested_week="2026-W45", state="done"),
            # expired already: not carried again
            FollowUpItem(kind="greet_followee", user_id="6", suggested_week="2026-W44", carried=True, state="expired"),
        ],
    )
    w.dm(ME, "3", "hello again, long time", ago(days=1))
    base = sent_report("2026-W46", [greet("2"), greet("4")], follow_up=carried)  # 4 suggested again
    report = w.analyze(History(previous_reports=[base], sent_weeks={"2026-W46"})).report
    assert report.follow_up is not None
    items = {i.user_id: i for i in report.follow_up.items}
    assert set(items) == {"2", "3", "4"}
    assert (items["3"].state, items["3"].carried, items["3"].done_by) == ("done", True, "dm")
    assert (items["4"].state, items["4"].carried) == ("open", False)  # the new suggestion counts
    assert items["2"].state == "open"


def test_only_a_sent_digest_is_followed_up_and_an_unsent_weeks_findings_stay() -> None:
    w = World()
    base = sent_report("2026-W45", [greet("2"), greet("3")], at=NOW - timedelta(days=14))
    unsent = sent_report(
        "2026-W46",
        [greet("7")],
        follow_up=FollowUp(
            base_week="2026-W45",
            items=[
                FollowUpItem(
                    kind="greet_followee", user_id="2", suggested_week="2026-W45", state="done", done_at=ago(days=10)
                ),
                FollowUpItem(kind="greet_followee", user_id="3", suggested_week="2026-W45", state="open"),
            ],
        ),
    )
    report = w.analyze(History(previous_reports=[base, unsent], sent_weeks={"2026-W45"})).report
    assert report.follow_up is not None and report.follow_up.base_week == "2026-W45"
    assert states(report) == {"2": "done", "3": "open"}
    # nothing sent yet: the first digest says nothing about it
    first = w.analyze(History(previous_reports=[base, unsent], sent_weeks=set())).report
    assert first.follow_up is None and first.metrics["followup_rate"] is None


def test_relationships_go_both_ways_twice_each_one_post_counting_once() -> None:
    w = World()
    w.follow("1")
    # 1: two posts each way (one of them a reply that also quotes: one post)
    w.post(ago(days=2), kind="reply", to="1", quote_of="1")
    w.reply(ago(days=1), to="1")
    w.mention("1", ago(days=2))
    w.dm("1", ME, "and what about the cohort charts", ago(days=1))
    # 2: one post to them, but three back: not a relationship
    w.reply(ago(days=2), to="2")
    for d in (1, 2, 3):
        w.mention("2", ago(days=d))
    # 3: retweets and likes are not talk
    w.post(ago(days=1), kind="retweet", retweet_of="3")
    w.post(ago(days=2), kind="retweet", retweet_of="3")
    w.like("3", ago(days=1))
    w.mention("3", ago(days=1))
    w.mention("3", ago(days=2))
    report = w.analyze().report
    assert [(r.user_id, r.to_them, r.from_them, r.followee) for r in report.relationships] == [("1", 2, 2, True)]
    assert report.metrics["relationships"] == 1 and report.metrics["followee_relationships"] == 1
    assert report.challenge.relationships == 1
    assert not report.relationships[0].new  # the first report cannot tell what is new


def test_follow_for_follow_followers_are_listed_apart_and_not_welcomed() -> None:
    w = World()
    cfg = AnalysisConfig()
    w.follower("1", since=ago(days=2))
    w.follower("2", since=ago(days=3))
    w.follower("3", since=ago(days=4))
    # 1 follows thousands, 3 times its followers: f4f; 2 follows as many but is widely followed; 3: not thousands
    w.accounts["1"] = Account(id="1", username="user1", following_count=cfg.f4f_min_following, followers_count=600)
    w.accounts["2"] = Account(id="2", username="user2", following_count=5000, followers_count=4000)
    w.accounts["3"] = Account(id="3", username="user3", following_count=1999, followers_count=10)
    report = w.analyze().report
    assert [f.user_id for f in report.follow_for_follow] == ["1"]
    assert report.metrics["follow_for_follow_followers"] == 1
    assert report.metrics["new_followers"] == 3 and report.metrics["new_followers_not_greeted"] == 2
    assert "1" not in {c.user_id for c in report.conversations}
    assert {"2", "3"} <= {c.user_id for c in report.conversations if c.kind == "welcome_follower"}


def test_without_the_followers_counts_follow_for_follow_is_not_measured() -> None:
    w = World()
    w.follower("1", since=ago(days=2))
    w.accounts.clear()
    report = w.analyze().report
    assert report.metrics["follow_for_follow_followers"] is None and "follower_counts" in report.unavailable
