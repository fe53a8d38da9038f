"""Invariants of the analysis over generated worlds (hypothesis)."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followthrough.analysis import AnalysisConfig, History, Interaction
from tests.support.analysis import ME, World, ago

KINDS = ("reply", "mention", "retweet", "quote", "like", "dm")
FOLLOWEES = [str(200 + i) for i in range(12)]
OTHERS = [str(300 + i) for i in range(6)]
EVERYONE = FOLLOWEES + OTHERS
UNLIMITED = AnalysisConfig(list_limit=None)
SMALL_WORDS = [
    "we",
    "could",
    "meet",
    "for",
    "lunch",
    "and",
    "talk",
    "about",
    "the",
    "garden",
    "project",
    "soon",
    "maybe",
    "tomorrow",
]

days = st.floats(min_value=0, max_value=400, allow_nan=False)
maybe_days = st.none() | days


# the subscriber's interactions but DMs, by kind (a DM draws its text)
ACTS = {
    "reply": lambda w, who, at: w.reply(at, to=who),
    "mention": lambda w, who, at: w.post(at, mentions=(who,)),
    "retweet": lambda w, who, at: w.post(at, kind="retweet", retweet_of=who),
    "quote": lambda w, who, at: w.post(at, kind="quote", quote_of=who),
    "like": lambda w, who, at: w.like(who, at),
}


@st.composite
def worlds(draw: st.DrawFn) -> tuple[World, History]:
    """A subscriber with some followees and followers, a ledger, posts, likes, mentions and DMs."""
    w = World()
    for user_id in FOLLOWEES:
        if draw(st.booleans()):
            since = draw(maybe_days)
            w.follow(
                user_id,
                since=None if since is None else ago(days=since),
                follows_back=draw(st.booleans()),
                follower_since=None if since is None else ago(days=since / 2),
            )
    for user_id in OTHERS:
        if draw(st.booleans()):
            since = draw(maybe_days)
            w.follower(user_id, since=None if since is None else ago(days=since))
    ledger = {
        user_id: Interaction(at=ago(days=draw(days)), kind=draw(st.sampled_from(KINDS)))
        for user_id in draw(st.lists(st.sampled_from(FOLLOWEES), unique=True, max_size=6))
    }
    for _ in range(draw(st.integers(0, 15))):
        act = draw(st.sampled_from(KINDS))
        who = draw(st.sampled_from(EVERYONE))
        at = ago(days=draw(st.floats(min_value=0, max_value=100)))
        if act == "dm":
            w.dm(ME, who, " ".join(draw(st.lists(st.sampled_from(SMALL_WORDS), min_size=1, max_size=9))), at)
        else:
            ACTS[act](w, who, at)
    for _ in range(draw(st.integers(0, 6))):
        who = draw(st.sampled_from(EVERYONE))
        mention = w.mention(who, ago(days=draw(st.floats(min_value=0, max_value=12))))
        if draw(st.booleans()):
            w.answer(mention, mention.created_at + timedelta(hours=draw(st.floats(min_value=0.1, max_value=100))))
    for _ in range(draw(st.integers(0, 8))):
        sender = draw(st.sampled_from(EVERYONE))
        text = draw(
            st.sampled_from(
                [
                    "Thanks for the follow {n}! Check out my free ebook {u}",
                    "hey {n} are we still on for friday",
                    "Great to connect {n}, my newsletter is at {u} and it is free",
                ]
            )
        )
        w.dm(
            sender,
            ME,
            text.format(n=draw(st.sampled_from(["Ann", "Bo", "Cy"])), u="https://t.co/z"),
            ago(days=draw(st.floats(min_value=0, max_value=25))),
        )
    return w, History(ledger=ledger)


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(worlds(), st.data())
def test_a_followee_replied_to_yesterday_is_never_passive(world: tuple[World, History], data: st.DataObject) -> None:
    w, history = world
    if not w.following:
        w.follow(FOLLOWEES[0])
    target = data.draw(st.sampled_from([e.user_id for e in w.following]))
    w.reply(ago(days=1), to=target)
    result = w.analyze(history, UNLIMITED)
    assert target not in {p.user_id for p in result.report.passive_follows}
    assert (result.ledger_updates.get(target) or history.ledger[target]).at >= ago(days=1)


@SETTINGS
@given(worlds())
def test_ledger_updates_only_move_forward_and_only_for_followees(world: tuple[World, History]) -> None:
    w, history = world
    result = w.analyze(history)
    followees = {e.user_id for e in w.following}
    for user_id, row in result.ledger_updates.items():
        assert user_id in followees
        stored = history.ledger.get(user_id)
        assert stored is None or row.at > stored.at


@SETTINGS
@given(worlds())
def test_every_followee_is_reached_passive_or_too_new(world: tuple[World, History]) -> None:
    w, history = world
    report = w.analyze(history, UNLIMITED).report
    cfg = UNLIMITED
    too_new = sum(1 for e in w.following if e.since and e.since > ago(days=cfg.new_follow_grace_days))
    challenge = report.challenge
    assert challenge.followees == len(w.following)
    assert challenge.interacted + len(report.passive_follows) + too_new >= challenge.followees
    assert challenge.interacted + len(report.passive_follows) <= challenge.followees
    if challenge.share is not None:
        assert 0 <= challenge.share <= 1
    # the ranking is best first
    scores = [p.rank_score for p in report.passive_follows]
    assert scores == sorted(scores, reverse=True)


@SETTINGS
@given(worlds())
def test_scores_and_confidences_stay_in_range(world: tuple[World, History]) -> None:
    w, history = world
    report = w.analyze(history).report
    score = report.metrics["engagement_score"]
    assert score is None or 0 <= score <= 100
    for dm in report.auto_dms.received:
        assert AnalysisConfig().auto_dm_min_confidence <= dm.confidence <= 1
        assert dm.reasons and dm.sender_id != ME
    assert len(report.conversations) <= 5
    assert len({c.user_id for c in report.conversations}) == len(report.conversations)


@SETTINGS
@given(worlds(), st.randoms(use_true_random=False))
def test_the_report_does_not_depend_on_input_order(world: tuple[World, History], rnd: random.Random) -> None:
    w, history = world
    before = w.analyze(history).model_dump()
    for items in (w.posts, w.mentions, w.likes, w.dm_events, w.following, w.followers):
        rnd.shuffle(items)
    assert w.analyze(history).model_dump() == before


@SETTINGS
@given(
    st.lists(st.sampled_from(SMALL_WORDS), min_size=1, max_size=12),
    st.integers(1, 6),
    st.floats(min_value=0.5, max_value=6),
    maybe_days,
)
def test_a_real_exchange_with_an_original_opener_is_never_automated(
    words: list[str], replies: int, started_days_ago: float, follower_days: float | None
) -> None:
    w = World()
    w.follower("77", since=None if follower_days is None else ago(days=follower_days))
    start = ago(days=started_days_ago)
    w.dm("77", ME, " ".join(words) + " https://example.com/look check out this", start)
    for i in range(replies):
        w.dm(ME, "77", "sounds good to me", start + timedelta(minutes=10 * i + 1))
        w.dm("77", ME, "great talk soon", start + timedelta(minutes=10 * i + 5))
    assert w.analyze().report.auto_dms.received == []


@SETTINGS
@given(
    st.lists(st.sampled_from(SMALL_WORDS), min_size=1, max_size=12),
    st.floats(min_value=0.1, max_value=6),
    st.floats(min_value=30, max_value=3000),
)
def test_a_friends_single_link_is_never_automated(
    words: list[str], sent_days_ago: float, friend_for_days: float
) -> None:
    w = World()
    w.follow("55", follows_back=True, follower_since=ago(days=friend_for_days))
    w.dm("55", ME, " ".join(words) + " https://t.co/abc", ago(days=sent_days_ago))
    assert w.analyze().report.auto_dms.received == []
