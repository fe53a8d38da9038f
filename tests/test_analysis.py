"""Labelled scenarios for the weekly analysis: each builds a small world and checks what a person would expect."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from followthrough.activity import FollowEdge, Like
from followthrough.analysis import AnalysisConfig, History, Interaction
from followthrough.archive.page import render_html
from followthrough.report import SCHEMA_VERSION, Challenge, WeeklyReport
from tests.support.analysis import ME, NOW, WEEK, World, ago

# --- passive follows and the ledger -------------------------------------------------------------


def passive_ids(world: World, history: History | None = None, **kw: object) -> list[str]:
    return [p.user_id for p in world.analyze(history, **kw).report.passive_follows]  # type: ignore[arg-type]


def test_followee_replied_to_yesterday_is_not_passive_and_the_ledger_learns_it() -> None:
    w = World()
    w.follow("1")
    w.follow("2")
    w.reply(ago(days=1), to="1")
    result = w.analyze()
    assert [p.user_id for p in result.report.passive_follows] == ["2"]
    assert result.ledger_updates == {"1": Interaction(at=ago(days=1), kind="reply")}


@pytest.mark.parametrize("act", ["mention", "retweet", "quote", "like", "dm"])
def test_every_kind_of_interaction_counts(act: str) -> None:
    w = World()
    w.follow("1")
    at = ago(days=3)
    if act == "mention":
        w.post(at, mentions=("1",))
    elif act == "retweet":
        w.post(at, kind="retweet", retweet_of="1")
    elif act == "quote":
        w.post(at, kind="quote", quote_of="1")
    elif act == "like":
        w.like("1", at)
    else:
        w.dm(ME, "1", "see you at the meetup tomorrow", at)
    result = w.analyze()
    assert result.report.passive_follows == []
    assert result.ledger_updates["1"].kind == act


def test_mentions_inside_a_retweet_are_not_the_subscribers() -> None:
    w = World()
    w.follow("1")
    w.follow("2")
    w.post(ago(days=2), kind="retweet", retweet_of="1", mentions=("2",))
    assert passive_ids(w) == ["2"]


def test_a_group_dm_is_not_an_interaction_with_each_member() -> None:
    w = World()
    w.follow("1")
    w.dm(
        ME, "1", "hello all of you in this group", ago(days=1), conversation_id="555", participants=[ME, "1", "2", "3"]
    )
    assert passive_ids(w) == ["1"]


def test_the_ledger_carries_interactions_across_weeks() -> None:
    w = World()
    w.follow("recent")
    w.follow("old")
    history = History(
        ledger={"recent": Interaction(at=ago(days=30), kind="like"), "old": Interaction(at=ago(days=120), kind="like")}
    )
    result = w.analyze(history)
    assert [p.user_id for p in result.report.passive_follows] == ["old"]
    old = result.report.passive_follows[0]
    assert old.last_interaction_at == ago(days=120)
    assert "your last interaction was a like 3 months ago" in old.reasons
    assert result.ledger_updates == {}  # nothing new this week


def test_an_older_interaction_this_week_never_rolls_the_ledger_back() -> None:
    w = World()
    w.follow("1")
    w.like("1", ago(days=5))
    result = w.analyze(History(ledger={"1": Interaction(at=ago(days=1), kind="reply")}))
    assert result.ledger_updates == {}
    assert result.report.passive_follows == []


def test_a_recent_follow_gets_time_before_being_called_passive() -> None:
    w = World()
    w.follow("new", since=ago(days=10))
    w.follow("old", since=ago(days=425))
    result = w.analyze()
    assert [p.user_id for p in result.report.passive_follows] == ["old"]
    reasons = result.report.passive_follows[0].reasons
    assert reasons[0] == "followed 13 months ago"
    assert reasons[1] == "never replied, mentioned, retweeted, quoted, liked or DMed"


def test_talk_to_ranking_prefers_people_who_reach_out_and_follow_back() -> None:
    w = World()
    w.follow("stranger", since=ago(days=800))
    w.follow("mutual", follows_back=True)
    w.follow("caller")
    w.mention("caller", ago(days=2))
    w.follow("active", post_count=20_000, created=ago(days=2000))
    ranked = w.analyze().report.passive_follows
    assert [p.user_id for p in ranked] == ["caller", "mutual", "active", "stranger"]
    assert ranked[0].mentioned_you and "mentioned you recently" in ranked[0].reasons
    assert ranked[1].follows_back and "follows you back" in ranked[1].reasons
    assert ranked[2].active and "posts about 10.0 times a day" in ranked[2].reasons
    assert "does not follow you back" in ranked[3].reasons


def test_challenge_counts_and_trend() -> None:
    w = World()
    for i in range(4):
        w.follow(str(i))
    w.reply(ago(days=1), to="0")
    w.like("1", ago(days=60))
    before = [
        WeeklyReport(
            subscriber_id=ME,
            week=f"2026-W{n}",
            generated_at=NOW - timedelta(weeks=47 - n),
            challenge=Challenge(followees=4, interacted=1, share=share),
        )
        for n, share in ((45, 0.1), (46, 0.25))
    ]
    report = w.analyze(History(previous_reports=before)).report
    assert (report.challenge.followees, report.challenge.interacted, report.challenge.share) == (4, 2, 0.5)
    assert report.challenge.trend == [0.1, 0.25, 0.5]
    assert report.metrics["passive_follows"] == 2


def test_the_list_is_capped_but_the_count_is_not() -> None:
    w = World()
    for i in range(30):
        w.follow(str(i))
    report = w.analyze(config=AnalysisConfig(list_limit=10)).report
    assert len(report.passive_follows) == 10
    assert report.metrics["passive_follows"] == 30


# --- automated DMs ------------------------------------------------------------------------------


def received(world: World, history: History | None = None) -> dict[str, list[str]]:
    return {d.sender_id: d.reasons for d in world.analyze(history).report.auto_dms.received}


def test_a_pitch_right_after_a_follow_is_an_automated_dm() -> None:
    w = World()
    w.follower("7", since=ago(days=2))
    event = w.dm("7", ME, "Thanks for following! Check out my free ebook https://t.co/abc", ago(days=2, minutes=-5))
    (found,) = w.analyze().report.auto_dms.received
    assert (found.sender_id, found.event_id, found.sender_username) == ("7", event.id, "user7")
    assert found.confidence == pytest.approx(0.8)
    assert found.reasons == [
        "first message of a new conversation",
        "sent right after they followed you",
        "contains a link",
        'contains a call to action ("check out", "subscribe", ...)',
        "no back-and-forth followed",
    ]


def test_the_same_template_from_several_senders_is_flagged_once_masked() -> None:
    w = World()
    for sender, name, link in (
        ("7", "Anna", "https://t.co/a1"),
        ("8", "Bob", "https://bit.ly/zz"),
        ("9", "Chen", "www.example.com/x"),
    ):
        w.dm(sender, ME, f"Hey there {name}, great to connect! My community has 1200 members: {link}", ago(days=3))
    found = received(w)
    assert sorted(found) == ["7", "8", "9"]
    assert all("same text as 2 other senders once names and links are masked" in r for r in found.values())


def test_negative_a_friend_who_sends_one_link() -> None:
    w = World()
    w.follow("5", since=ago(days=700), follows_back=True, follower_since=ago(days=690))
    w.dm("5", ME, "haha you have to see this https://t.co/xyz", ago(days=1))
    assert received(w) == {}


def test_negative_two_people_say_thanks_for_the_follow_in_their_own_words() -> None:
    w = World()
    w.follower("21", since=ago(days=1))
    w.follower("22", since=ago(days=1))
    w.dm("21", ME, "Thanks so much for the follow, I really enjoyed your talk on parsers", ago(days=1, minutes=-30))
    w.dm("22", ME, "hey! thank you for following back, loved the thread about sourdough", ago(days=1, minutes=-40))
    assert received(w) == {}


def test_negative_a_long_real_exchange_that_starts_with_a_link() -> None:
    w = World()
    w.follower("30", since=ago(days=4))
    w.dm("30", ME, "Is this the paper you mentioned? https://arxiv.org/abs/1234.5678", ago(days=4))
    for i in range(6):
        sender, recipient = (ME, "30") if i % 2 == 0 else ("30", ME)
        w.dm(sender, recipient, f"reply number {i} about the paper and its results", ago(days=4, hours=-i - 1))
    assert received(w) == {}


def test_conversations_from_earlier_weeks_have_no_opener_this_week() -> None:
    w = World()
    opener = w.dm("7", ME, "Check out my course, use code SAVE20 https://t.co/c", ago(days=2))
    w.follower("7", since=ago(days=2))
    assert received(w)  # a new conversation: judged
    history = History(known_dm_conversations={opener.conversation_id: ago(days=40)})
    assert received(w, history) == {}


def test_openers_before_the_week_are_context_not_news() -> None:
    w = World()
    w.follower("7", since=ago(days=20))
    w.dm("7", ME, "Check out my free guide https://t.co/g, sign up today", ago(days=20))
    result = w.analyze()
    assert result.report.auto_dms.received == []
    assert result.dm_conversation_updates == {w.dm_events[0].conversation_id: ago(days=20)}


def test_the_subscriber_sending_one_text_to_three_people_is_flagged() -> None:
    w = World()
    for person, name in (("41", "Ann"), ("42", "Bert"), ("43", "Cleo")):
        w.follower(person, since=ago(days=1))
        w.dm(ME, person, f"Thanks for the follow {name}! Grab my newsletter at https://t.co/n{person}", ago(hours=20))
    (sent,) = w.analyze().report.auto_dms.sent
    assert sent.recipient_ids == ["41", "42", "43"] and sent.count == 3
    assert sent.reasons[0] == "you sent the same message to 3 people once names and links are masked"
    assert "3 of them started a new conversation" in sent.reasons
    assert any("X's rules do not allow automated DMs to new followers" in r for r in sent.reasons)


def test_same_text_to_two_people_or_a_short_thanks_to_many_is_not_automation() -> None:
    w = World()
    for person in ("41", "42"):
        w.dm(ME, person, "Happy to help, let me know how the launch goes next week", ago(hours=20))
    for person in ("51", "52", "53", "54"):
        w.dm(ME, person, "thanks!", ago(hours=10))
    assert w.analyze().report.auto_dms.sent == []


# --- mentions -----------------------------------------------------------------------------------


def test_mentions_answered_late_early_or_never() -> None:
    w = World()
    on_time = w.mention("1", ago(days=4))
    w.answer(on_time, ago(days=4, hours=-2))
    late = w.mention("2", ago(days=5))
    w.answer(late, ago(days=2))
    never = w.mention("3", ago(days=3), text="what do you think about this?")
    w.mention("4", ago(hours=10))  # still within the 48 hours
    w.mention("5", ago(days=3), kind="retweet")  # a retweet is not a mention to answer
    report = w.analyze().report
    unanswered = [(m.tweet_id, m.replied_at) for m in report.unanswered_mentions]
    assert unanswered == [(never.id, None), (late.id, ago(days=2))]
    assert report.unanswered_mentions[0].url == f"https://x.com/i/status/{never.id}"  # author's name unknown
    m = report.metrics
    assert (m["mentions_due"], m["unanswered_mentions"], m["response_rate"]) == (3, 2, pytest.approx(1 / 3, abs=1e-4))
    assert m["median_response_hours"] == pytest.approx((2 + 72) / 2)
    assert m["mentions_received"] == 4


def test_a_reply_later_in_the_same_thread_answers_the_mention() -> None:
    w = World()
    w.mention("1", ago(days=3), conversation_id="c1")
    w.post(ago(days=3, hours=-1), kind="reply", to="1", conversation_id="c1", replied_to_id="another-post")
    report = w.analyze().report
    assert report.unanswered_mentions == []
    assert report.metrics["response_rate"] == 1.0


def test_mentions_unavailable_are_not_zero() -> None:
    w = World()
    w.mention("1", ago(days=3))
    report = w.analyze(unavailable=("mentions",)).report
    assert "mentions" in report.unavailable
    assert report.unanswered_mentions == []
    for name in ("mentions_received", "unanswered_mentions", "response_rate", "median_response_hours"):
        assert report.metrics[name] is None


# --- how the subscriber posts -------------------------------------------------------------------


def test_conversation_versus_broadcast() -> None:
    w = World()
    w.follow("1")
    w.post(ago(days=1))  # original
    first = w.post(ago(days=1, minutes=-1))
    w.post(ago(days=1, minutes=-2), kind="reply", to=ME, replied_to_id=first.id)  # a thread continues
    w.reply(ago(days=2), to="1")
    w.post(ago(days=2), kind="quote", quote_of="1")
    w.post(ago(days=3), kind="retweet", retweet_of="1")
    w.post(ago(days=30))  # before the week: not counted
    m = w.analyze().report.metrics
    counts = (m["posts"], m["originals"], m["thread_posts"], m["replies"], m["quotes"], m["retweets"])
    assert counts == (6, 2, 1, 1, 1, 1)
    assert m["conversation_share"] == pytest.approx(2 / 5)
    assert m["posts_per_day"] == pytest.approx(6 / 7, abs=0.01)


def test_bursts_and_twittiarrhea() -> None:
    w = World()
    for i in range(6):
        w.post(ago(days=2, minutes=-2 * i))
    m = w.analyze().report.metrics
    assert (m["bursts"], m["twittiarrhea"], m["heavy_days"]) == (1, 1, 0)

    calm = World()
    for i in range(6):  # replies to people do not flood the timeline
        calm.reply(ago(days=2, minutes=-2 * i), to="9")
    for day in range(4):
        calm.post(ago(days=day + 1))
    m = calm.analyze().report.metrics
    assert (m["bursts"], m["twittiarrhea"]) == (0, 0)


def test_heavy_posting_days_are_twittiarrhea() -> None:
    w = World()
    for i in range(25):  # 01:00 to 13:00 UTC of one day
        w.post(ago(days=2, hours=11, minutes=-30 * i))
    m = w.analyze(config=AnalysisConfig(burst_posts=50)).report.metrics
    assert (m["heavy_days"], m["bursts"], m["twittiarrhea"], m["busiest_day_posts"]) == (1, 0, 1, 25)


def test_self_promotion_share_counts_own_domains_and_ignores_links_to_x() -> None:
    w = World()
    w.post(ago(days=1), urls=("https://blog.example.com/a", "https://x.com/someone/status/1"))
    w.post(ago(days=2), urls=("https://www.example.com/shop", "https://news.other.org/story"))
    w.post(ago(days=3), kind="retweet", retweet_of="9", urls=("https://example.com/ignored",))
    m = w.analyze(own_domains=("https://www.Example.com/",)).report.metrics
    assert (m["links_shared"], m["own_links"], m["self_promotion_share"]) == (3, 2, pytest.approx(2 / 3, abs=1e-4))
    assert w.analyze().report.metrics["self_promotion_share"] is None  # no own domains known


def test_hashtag_chat_needs_several_posts_in_an_hour_with_others() -> None:
    w = World()
    for i, person in enumerate(("1", "2", "3")):
        w.reply(ago(days=2, minutes=-15 * i), to=person, hashtags=("PyChat",))
    for i in range(3):  # alone with a hashtag: a monologue, not a chat
        w.post(ago(days=4, minutes=-10 * i), hashtags=("solo",))
    report = w.analyze().report
    assert [(c.hashtag, c.posts, c.participants) for c in report.hashtag_chats] == [("#PyChat", 3, 3)]
    assert report.metrics["hashtag_chats"] == 1


def test_hashtag_chat_participants_can_come_from_mentions() -> None:
    w = World()
    for i in range(3):
        w.post(ago(days=2, minutes=-10 * i), hashtags=("devchat",))
    w.mention("8", ago(days=2, minutes=-5), hashtags=("DevChat",))
    assert [c.participants for c in w.analyze().report.hashtag_chats] == [1]


def test_following_follower_ratio_warning() -> None:
    w = World()
    for i in range(300):
        w.follow(str(5000 + i), follows_back=i < 100)
    m = w.analyze().report.metrics
    assert (m["followees"], m["followers"], m["following_follower_ratio"], m["following_ratio_warning"]) == (
        300,
        100,
        3.0,
        1,
    )


def test_new_followers_never_greeted() -> None:
    w = World()
    w.follower("61", since=ago(days=2))
    w.follower("62", since=ago(days=3))
    w.follower("63", since=ago(days=30))  # not new this week
    w.follower("64")
    w.reply(ago(days=1), to="62")
    report = w.analyze().report
    assert (report.metrics["new_followers"], report.metrics["new_followers_not_greeted"]) == (2, 1)
    assert [(c.kind, c.user_id) for c in report.conversations] == [("welcome_follower", "61")]


@pytest.mark.parametrize(("exact", "not_greeted"), [(False, 0), (True, 1)], ids=["first seen", "dated by X"])
def test_a_greeting_before_a_follow_counts_only_when_the_follow_time_is_a_first_seen_one(
    exact: bool, not_greeted: int
) -> None:
    """A weekly read may see a follow days late, so a reply shortly before it was seen may be the greeting;
    a time from X's follow event is the follow itself, and a reply before it greeted nobody new."""
    w = World()
    w.person("71")
    w.followers.append(FollowEdge(user_id="71", username="user71", since=ago(days=2), exact=exact))
    w.reply(ago(days=3), to="71")
    metrics = w.analyze().report.metrics
    assert (metrics["new_followers"], metrics["new_followers_not_greeted"]) == (1, not_greeted)


def test_new_followers_are_unavailable_when_follow_times_are_unknown() -> None:
    w = World()
    w.follower("61")
    report = w.analyze().report
    assert report.metrics["new_followers"] is None
    assert "follow_times" in report.unavailable


# --- the whole report ---------------------------------------------------------------------------


def busy_world() -> World:
    w = World()
    w.follow("1", username="ann", follows_back=True)
    w.follow("2", username="bo")
    w.follow("3", username="cy", since=ago(days=500))
    w.follower("4", username="di", since=ago(days=1))
    w.reply(ago(days=1), to="1")
    w.mention("5", ago(days=3), post_id="900")
    w.person("5", "eve")
    w.mention("6", ago(days=4), post_id="901")
    w.post(ago(days=2), urls=("https://me.dev/post",))
    return w


def test_five_conversations_mix_mentions_greetings_and_welcomes() -> None:
    report = busy_world().analyze(config=AnalysisConfig(conversations=5)).report
    assert [(c.kind, c.user_id) for c in report.conversations] == [
        ("answer_mention", "5"),
        ("answer_mention", "6"),
        ("greet_followee", "3"),
        ("welcome_follower", "4"),
        ("greet_followee", "2"),
    ]
    first, _, greet, welcome, _ = report.conversations
    assert first.url == "https://x.com/eve/status/900"
    assert first.reason.startswith("@eve mentioned you 3 days ago")
    assert greet.url == "https://x.com/cy" and "You've followed @cy for 16 months" in greet.reason
    assert welcome.url == "https://x.com/di"


def test_waiting_mentions_leave_room_for_a_greeting_and_a_welcome() -> None:
    w = busy_world()
    for n in range(6):
        w.mention(f"{60 + n}", ago(days=3, hours=n), text=f"@me question {n}?")
    conversations = w.analyze(config=AnalysisConfig(conversations=5)).report.conversations
    kinds = [c.kind for c in conversations]
    assert kinds.count("answer_mention") == 3 and kinds[:3] == ["answer_mention"] * 3
    assert "greet_followee" in kinds and "welcome_follower" in kinds
    only_mentions = w.analyze(config=AnalysisConfig(conversations=5, conversation_mentions=5)).report
    assert [c.kind for c in only_mentions.conversations] == ["answer_mention"] * 5


def test_report_json_has_the_agreed_keys_with_string_ids() -> None:
    w = busy_world()
    w.dm("4", ME, "Thanks for the follow! Check out my free guide https://t.co/q", ago(days=1, minutes=-3))
    report = w.analyze(own_domains=("me.dev",)).report
    data = json.loads(report.model_dump_json())
    assert data["schema_version"] == SCHEMA_VERSION == 2 and data["week"] == WEEK
    assert {
        "passive_follows",
        "auto_dms",
        "unanswered_mentions",
        "metrics",
        "conversations",
        "challenge",
        "deltas",
        "unavailable",
    } <= set(data)
    assert all(isinstance(p["user_id"], str) and p["reasons"] for p in data["passive_follows"])
    (dm,) = data["auto_dms"]["received"]
    assert isinstance(dm["sender_id"], str) and isinstance(dm["event_id"], str) and 0 < dm["confidence"] <= 1
    assert data["auto_dms"]["sent"] == []
    assert {"tweet_id", "author_id"} <= set(data["unanswered_mentions"][0])
    assert WeeklyReport.model_validate_json(report.model_dump_json()) == report


def test_engagement_score_follows_the_documented_formula() -> None:
    w = World()
    w.follow("1")
    w.follow("2")
    w.reply(ago(days=1), to="1")  # conversation 1 of 2 posts, challenge 1 of 2 followees
    w.post(ago(days=2), urls=("https://mine.org/a", "https://other.org/b"))
    answered = w.mention("3", ago(days=4))
    w.answer(answered, ago(days=4, hours=-1))
    w.mention("4", ago(days=4))  # response rate 1/2
    m = w.analyze(own_domains=("mine.org",)).report.metrics
    cfg = AnalysisConfig()
    # the answer is a reply too: 2 replies of 3 posts; 1 of 2 followees reached (share 0.5 = the target);
    # 1 of 2 mentions answered; 1 of 2 links to an own domain; no new followers to welcome
    assert (m["conversation_share"], m["challenge_share"], m["response_rate"], m["self_promotion_share"]) == (
        pytest.approx(2 / 3, abs=1e-4),
        0.5,
        0.5,
        0.5,
    )
    parts = [
        (cfg.score_w_conversation, 2 / 3),
        (cfg.score_w_response, 0.5),
        (cfg.score_w_reach_out, 1.0),
        (cfg.score_w_own_voice, 0.5),
    ]
    expected = round(100 * sum(weight * c for weight, c in parts) / sum(weight for weight, _ in parts))
    assert expected == 69
    assert m["engagement_score"] == expected


def test_penalties_lower_the_score() -> None:
    clean = World()
    clean.reply(ago(days=1), to="1")
    spammy = World()
    spammy.reply(ago(days=1), to="1")
    for person in ("41", "42", "43"):
        spammy.dm(ME, person, f"Welcome {person}! Join my paid community today at https://t.co/x", ago(hours=5))
    assert clean.analyze().report.metrics["engagement_score"] == 100
    assert spammy.analyze().report.metrics["engagement_score"] == 90


def test_deltas_against_the_newest_previous_report_and_trends() -> None:
    w = busy_world()
    older = WeeklyReport(
        subscriber_id=ME, week="2026-W45", generated_at=ago(days=14), metrics={"posts": 10, "passive_follows": 9}
    )
    newest = WeeklyReport(
        subscriber_id=ME, week="2026-W46", generated_at=ago(days=7), metrics={"posts": 1, "passive_follows": None}
    )
    report = w.analyze(History(previous_reports=[older, newest])).report
    assert report.deltas["posts"] == report.metrics["posts"] - 1
    assert report.deltas["passive_follows"] is None
    assert report.deltas["engagement_score"] is None
    assert report.trends["passive_follows"] == [9, None, report.metrics["passive_follows"]]
    assert w.analyze().report.deltas == {}


def test_unavailable_inputs_make_their_metrics_none() -> None:
    w = busy_world()
    report = w.analyze(unavailable=("tweets", "dm_events", "following")).report
    assert {"posts", "dm_events", "following"} <= set(report.unavailable)
    for name in (
        "posts",
        "conversation_share",
        "passive_follows",
        "challenge_share",
        "auto_dms_received",
        "auto_dms_sent",
        "response_rate",
    ):
        assert report.metrics[name] is None, name
    assert report.passive_follows == [] and report.challenge.share is None


def test_likes_that_cannot_be_tied_to_an_account_are_said_so() -> None:
    w = World()
    w.follow("1")
    w.likes.append(Like(post_id="9", author_id=None, seen_at=ago(days=1)))
    report = w.analyze().report
    assert "like_authors" in report.unavailable
    assert report.passive_follows[0].reasons[0].endswith("(likes could not be checked)")


def test_html_page_escapes_what_people_wrote() -> None:
    w = World()
    w.mention("1", ago(days=3), text="<script>alert('x')</script> & friends")
    w.person("1", "ann")
    page = render_html(w.analyze().report)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; friends" in page
    assert "https://x.com/ann/status/" in page
