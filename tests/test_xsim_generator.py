"""The synthetic account generator: determinism, sizes, ordering, and planted facts that hold in the data."""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from followthrough import masking
from followthrough.xmodels import XDmEvent, XTweet
from followthrough_devkit.xsim import SyntheticAccount, advance_week, generate_account

ANCHOR = datetime(2026, 9, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo() -> SyntheticAccount:
    return generate_account(7, "demo", ANCHOR)


def summary(acc: SyntheticAccount) -> tuple[object, ...]:
    """Everything observable about an account, as plain data."""
    return (
        acc.me.model_dump(),
        [t.model_dump() for t in acc.posts],
        [t.model_dump() for t in acc.mentions],
        [t.model_dump() for t in acc.likes],
        [u.model_dump() for u in acc.following],
        [u.model_dump() for u in acc.followers],
        [e.model_dump() for e in acc.dm_events],
        sorted(acc.follow_times.items()),
        sorted(acc.follower_times.items()),
        sorted(acc.like_times.items()),
        sorted(acc.referenced),
        acc.own_domains,
        sorted(acc.truth.passive_follow_ids),
        sorted(acc.truth.answered_mentions.items()),
    )


def conversation_partner(event: XDmEvent, me: str) -> str | None:
    conv = event.dm_conversation_id or ""
    if "-" not in conv:
        return None  # group conversation
    low, high = conv.split("-")
    return high if low == me else low


def outbound_targets(acc: SyntheticAccount) -> dict[str, set[str]]:
    """Who the subscriber replied to, mentioned, liked, retweeted, quoted or DMed, read straight off the wire data."""
    me = acc.me.id
    targets: dict[str, set[str]] = defaultdict(set)
    for post in acc.posts:
        if post.in_reply_to_user_id and post.in_reply_to_user_id != me:
            targets[post.in_reply_to_user_id].add("reply")
        for mention in post.entities.mentions if post.entities else []:
            if mention.id and mention.id != me:
                targets[mention.id].add("mention")
        for ref in post.referenced_tweets:
            author = acc.referenced[ref.id].author_id
            if author and author != me:
                targets[author].add(ref.type)
    for liked in acc.likes:
        targets[liked.author_id or ""].add("like")
    for event in acc.dm_events:
        partner = conversation_partner(event, me)
        if event.sender_id == me and partner:
            targets[partner].add("dm")
    return targets


def test_same_seed_same_data_and_different_seed_different_data() -> None:
    first = generate_account(11, "small", ANCHOR)
    second = generate_account(11, "small", ANCHOR)
    other = generate_account(12, "small", ANCHOR)
    later = generate_account(11, "small", ANCHOR + timedelta(days=1))
    assert summary(first) == summary(second)
    assert summary(first) != summary(other)
    assert first.me.id != other.me.id
    assert summary(first) != summary(later)


def test_default_anchor_is_the_current_hour() -> None:
    acc = generate_account(3, "small")
    now = datetime.now(UTC)
    assert acc.anchor.minute == acc.anchor.second == acc.anchor.microsecond == 0
    assert timedelta(0) <= now - acc.anchor < timedelta(hours=1, minutes=1)


@pytest.mark.parametrize(("profile", "following", "followers"), [("small", 150, 200), ("typical", 1000, 1000)])
def test_profile_sizes(profile: str, following: int, followers: int) -> None:
    acc = generate_account(5, profile, ANCHOR)
    assert len(acc.following) == following
    assert len(acc.followers) == followers


def test_demo_profile_is_big_enough_and_counts_match(demo: SyntheticAccount) -> None:
    metrics = demo.me.public_metrics
    assert metrics is not None
    assert len(demo.following) >= 500
    assert len(demo.followers) >= 800
    assert metrics.following_count == len(demo.following) == len(demo.follow_times)
    assert metrics.followers_count == len(demo.followers) == len(demo.follower_times)
    assert metrics.tweet_count == len(demo.posts)
    assert metrics.like_count == len(demo.likes)
    assert len({u.id for u in demo.following}) == len(demo.following)
    assert len({u.id for u in demo.followers}) == len(demo.followers)


def test_large_profile_has_its_sizes() -> None:
    # its speed is a benchmark's business (bench/api_cost.py runs it), not a timed test's
    acc = generate_account(1, "large", ANCHOR)
    assert len(acc.following) == 5000
    assert len(acc.followers) == 50000
    assert len(acc.posts) > 3200  # more than X lets a reader reach


def test_everything_is_newest_first_and_before_the_anchor(demo: SyntheticAccount) -> None:
    def descending(values: list[object]) -> bool:
        return all(a > b for a, b in itertools.pairwise(values))  # type: ignore[operator]

    for tweets in (demo.posts, demo.mentions):
        assert descending([int(t.id) for t in tweets])
        assert descending([t.created_at for t in tweets])
        assert all(t.created_at is not None and t.created_at < demo.anchor for t in tweets)
    assert descending([int(e.id) for e in demo.dm_events])
    assert descending([demo.like_times[t.id] for t in demo.likes])
    assert descending([demo.follow_times[u.id] for u in demo.following])
    assert descending([demo.follower_times[u.id] for u in demo.followers])
    assert max(demo.follower_times.values()) < demo.anchor
    # months of history, not days
    oldest_post = demo.posts[-1].created_at
    assert oldest_post is not None and demo.anchor - oldest_post > timedelta(days=90)


def test_wire_objects_are_complete(demo: SyntheticAccount) -> None:
    kinds: set[str] = set()
    for post in demo.posts:
        assert post.author_id == demo.me.id
        assert post.edit_history_tweet_ids == [post.id]
        assert post.conversation_id
        kinds |= {r.type for r in post.referenced_tweets}
        for ref in post.referenced_tweets:
            assert ref.id in demo.referenced
        if any(r.type == "replied_to" for r in post.referenced_tweets):
            assert post.in_reply_to_user_id
    assert kinds == {"replied_to", "quoted", "retweeted"}
    assert any(not p.referenced_tweets for p in demo.posts)
    for tweet in demo.mentions + demo.likes + list(demo.referenced.values()):
        assert tweet.author_id in demo.users
    for mention in demo.mentions:
        assert mention.entities is not None
        assert demo.me.id in {m.id for m in mention.entities.mentions}
        assert f"@{demo.me.username}" in mention.text
    for post in demo.posts:
        for m in post.entities.mentions if post.entities else []:
            assert m.id in demo.users and demo.users[m.id].username == m.username
            assert f"@{m.username}" in post.text
    urls = [u for p in demo.posts if p.entities for u in p.entities.urls]
    assert urls and all(u.url.startswith("https://t.co/") and u.expanded_url for u in urls)
    assert all(u.id in demo.users for u in demo.following + demo.followers)


def test_dm_events_have_conversations_and_span_the_30_day_window(demo: SyntheticAccount) -> None:
    me = demo.me.id
    cutoff = demo.anchor - timedelta(days=30)
    recent = [e for e in demo.dm_events if e.created_at and e.created_at >= cutoff]
    older = [e for e in demo.dm_events if e.created_at and e.created_at < cutoff]
    assert len(recent) >= 100 and older
    for event in demo.dm_events:
        assert event.sender_id and event.dm_conversation_id and event.created_at
        partner = conversation_partner(event, me)
        if partner is not None:
            low, high = (event.dm_conversation_id or "").split("-")
            assert int(low) < int(high) and me in (low, high)
            assert event.sender_id in (me, partner)
        if event.event_type == "ParticipantsJoin":
            assert event.participant_ids
    assert any(e.event_type == "ParticipantsJoin" for e in demo.dm_events)


def test_passive_follows_never_appear_in_the_subscribers_actions(demo: SyntheticAccount) -> None:
    truth = demo.truth
    following = set(demo.follow_times)
    targets = outbound_targets(demo)
    assert truth.passive_follow_ids
    assert not truth.passive_follow_ids & set(targets)
    assert truth.passive_follow_ids == following - set(targets)
    # and the interacted ones really were interacted with, in the ways the truth says
    kind_names = {
        "reply": "reply",
        "mention": "mention",
        "like": "like",
        "dm": "dm",
        "retweet": "retweeted",
        "quote": "quoted",
    }
    assert set(truth.followee_interactions) == following & set(targets)
    for uid, kinds in truth.followee_interactions.items():
        assert {kind_names[k] for k in kinds} <= targets[uid]
    share = len(truth.passive_follow_ids) / len(following)
    assert 0.4 < share < 0.9
    # some passive followees talk to the subscriber; that does not make the subscriber talk to them
    assert truth.passive_followees_mentioning
    assert truth.passive_followees_mentioning <= truth.passive_follow_ids


def test_mutuals_are_a_realistic_share(demo: SyntheticAccount) -> None:
    mutuals = set(demo.follow_times) & set(demo.follower_times)
    assert mutuals == demo.truth.mutual_ids
    assert 0.2 < len(mutuals) / len(demo.following) < 0.6


def test_answered_and_unanswered_mentions(demo: SyntheticAccount) -> None:
    truth = demo.truth
    mention_ids = {m.id for m in demo.mentions}
    assert truth.answered_mention_ids | truth.unanswered_mention_ids == mention_ids
    assert not truth.answered_mention_ids & truth.unanswered_mention_ids
    assert truth.answered_mentions and truth.unanswered_mention_ids
    replies_to: dict[str, XTweet] = {}
    for post in demo.posts:
        for ref in post.referenced_tweets:
            if ref.type == "replied_to":
                replies_to[ref.id] = post
    mentions = {m.id: m for m in demo.mentions}
    for mention_id, reply_id in truth.answered_mentions.items():
        reply = replies_to[mention_id]
        mention = mentions[mention_id]
        assert reply.id == reply_id
        assert reply.in_reply_to_user_id == mention.author_id
        assert reply.conversation_id == mention.conversation_id
        assert reply.created_at and mention.created_at
        assert timedelta(0) < reply.created_at - mention.created_at <= timedelta(hours=12)
    assert not truth.unanswered_mention_ids & set(replies_to)
    # mentions that reply to the subscriber's own posts point at them
    own = {p.id for p in demo.posts}
    threaded = [m for m in demo.mentions if m.in_reply_to_user_id == demo.me.id]
    assert threaded and all(m.referenced_tweets[0].id in own for m in threaded)
    assert truth.liked_mention_ids and truth.liked_mention_ids <= truth.unanswered_mention_ids


def _fingerprints_by_sender(acc: SyntheticAccount) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for event in acc.dm_events:
        if event.text:
            found[masking.fingerprint(event.text)].add(event.sender_id or "")
    return found


def test_planted_automated_dms_received(demo: SyntheticAccount) -> None:
    truth = demo.truth
    me = demo.me.id
    assert len(truth.auto_dm_sender_ids) >= 3
    by_id = {e.id: e for e in demo.dm_events}
    fingerprints = _fingerprints_by_sender(demo)
    for event_id in truth.auto_dm_event_ids:
        event = by_id[event_id]
        sender = event.sender_id or ""
        assert sender in truth.auto_dm_sender_ids
        text = event.text or ""
        assert masking.has_link(text) and masking.has_call_to_action(text)
        # shortly after they followed, a conversation of exactly this one message
        followed = demo.follower_times[sender]
        assert event.created_at and timedelta(0) < event.created_at - followed <= timedelta(minutes=30)
        thread = [e for e in demo.dm_events if e.dm_conversation_id == event.dm_conversation_id]
        assert thread == [event]
        assert sender not in demo.follow_times
        # the same template as other senders once names, numbers and links are masked
        assert len(fingerprints[masking.fingerprint(text)] - {me}) >= 2
    texts = [by_id[i].text for i in truth.auto_dm_event_ids]
    assert len(set(texts)) == len(texts)  # not byte-identical: names, numbers and links differ


def test_planted_own_automated_dm(demo: SyntheticAccount) -> None:
    truth = demo.truth
    me = demo.me.id
    events = [e for e in demo.dm_events if e.id in truth.own_auto_dm_event_ids]
    assert len(events) >= 3
    assert {masking.fingerprint(e.text or "") for e in events} == {masking.fingerprint(events[0].text or "")}
    recipients = {conversation_partner(e, me) for e in events}
    assert recipients == truth.own_auto_dm_recipient_ids
    for event in events:
        assert event.sender_id == me
        partner = conversation_partner(event, me) or ""
        assert event.created_at and timedelta(0) < event.created_at - demo.follower_times[partner] <= timedelta(
            minutes=10
        )
    # no other text of the subscriber went to three or more people
    sent_to: dict[str, set[str]] = defaultdict(set)
    for event in demo.dm_events:
        partner = conversation_partner(event, me)
        if event.sender_id == me and event.text and partner:
            sent_to[masking.fingerprint(event.text)].add(partner)
    widespread = {fp for fp, people in sent_to.items() if len(people) >= 3}
    assert widespread == {masking.fingerprint(events[0].text or "")}


def test_tricky_dm_negatives(demo: SyntheticAccount) -> None:
    neg = demo.truth.dm_negatives
    me = demo.me.id
    by_id = {e.id: e for e in demo.dm_events}
    fingerprints = _fingerprints_by_sender(demo)

    friend_link = by_id[neg.friend_link_event_id]
    assert friend_link.sender_id == neg.friend_link_sender_id
    assert masking.has_link(friend_link.text or "")
    friend_thread = [e for e in demo.dm_events if e.dm_conversation_id == friend_link.dm_conversation_id]
    assert len(friend_thread) >= 5 and {e.sender_id for e in friend_thread} == {me, neg.friend_link_sender_id}
    assert friend_thread[-1].id != friend_link.id  # not the opener
    assert neg.friend_link_sender_id in demo.truth.mutual_ids

    thanks = [by_id[i] for i in neg.thanks_for_follow_event_ids]
    assert len(thanks) == 2
    assert all("follow" in (e.text or "").lower() for e in thanks)
    assert masking.fingerprint(thanks[0].text or "") != masking.fingerprint(thanks[1].text or "")
    for event in thanks:
        text = event.text or ""
        assert not masking.has_link(text) and not masking.has_call_to_action(text)
        assert event.sender_id in demo.follow_times
        thread = [e for e in demo.dm_events if e.dm_conversation_id == event.dm_conversation_id]
        assert thread[-1].id == event.id and len(thread) >= 3  # they opened, got an answer, wrote back

    long_thread = [e for e in demo.dm_events if e.dm_conversation_id == neg.long_exchange_conversation_id]
    opener = long_thread[-1]
    assert opener.id == neg.long_exchange_first_event_id
    assert opener.sender_id == neg.long_exchange_partner_id
    assert masking.has_link(opener.text or "")
    assert len(long_thread) >= 10 and {e.sender_id for e in long_thread} == {me, neg.long_exchange_partner_id}
    # none of them shares its masked text with anyone
    for event in [friend_link, *thanks, opener]:
        assert fingerprints[masking.fingerprint(event.text or "")] == {event.sender_id}


@pytest.mark.parametrize("seed", range(8))
def test_planted_conversations_hold_only_their_script(seed: int) -> None:
    """Ordinary DM traffic never lands in a planted conversation, whatever the seed or anchor."""
    acc = generate_account(seed, "demo", ANCHOR + timedelta(days=seed * 11, hours=seed))
    advance_week(acc, seed)
    truth = acc.truth
    threads: dict[str, list[XDmEvent]] = defaultdict(list)
    for event in acc.dm_events:
        threads[event.dm_conversation_id or ""].append(event)
    by_id = {e.id: e for e in acc.dm_events}
    for event_id in truth.auto_dm_event_ids:
        assert threads[by_id[event_id].dm_conversation_id or ""] == [by_id[event_id]]
    for event_id in truth.own_auto_dm_event_ids:
        assert threads[by_id[event_id].dm_conversation_id or ""][-1].id == event_id  # the opener
    neg = truth.dm_negatives
    assert threads[neg.long_exchange_conversation_id][-1].id == neg.long_exchange_first_event_id
    for event_id in neg.thanks_for_follow_event_ids:
        assert len(threads[by_id[event_id].dm_conversation_id or ""]) == 3
    friend = by_id[neg.friend_link_event_id].dm_conversation_id or ""
    assert len(threads[friend]) == 6


def test_hashtag_chat_bursts(demo: SyntheticAccount) -> None:
    chats = demo.truth.hashtag_chats
    assert len(chats) >= 2
    posts = {p.id: p for p in demo.posts}
    others = {t.id: t for t in demo.mentions + demo.likes + list(demo.referenced.values())}
    for chat in chats:
        mine = [posts[i] for i in chat.subscriber_post_ids]
        assert len(mine) >= 3
        for post in mine:
            assert post.entities and chat.tag in {h.tag for h in post.entities.hashtags}
            assert post.created_at and chat.start <= post.created_at <= chat.end
        assert chat.end - chat.start <= timedelta(hours=1)
        theirs = [others[i] for i in chat.other_post_ids]
        assert len({t.author_id for t in theirs}) >= 3
        assert all(t.entities and chat.tag in {h.tag for h in t.entities.hashtags} for t in theirs)


def test_own_domain_links(demo: SyntheticAccount) -> None:
    assert demo.own_domains
    own = demo.truth.own_link_post_ids
    assert own
    for post in demo.posts:
        urls = [u.expanded_url or "" for u in (post.entities.urls if post.entities else [])]
        to_own = any(url.split("/")[2] in demo.own_domains for url in urls)
        assert to_own == (post.id in own)
    assert demo.truth.self_reply_ids
    for post in demo.posts:
        if post.id in demo.truth.self_reply_ids:
            assert post.in_reply_to_user_id == demo.me.id


def test_advance_week_adds_one_typical_week() -> None:
    acc = generate_account(21, "typical", ANCHOR)
    twin = copy.deepcopy(acc)
    before_followers = set(acc.follower_times)
    delta = advance_week(acc, seed=1)
    assert acc.anchor == ANCHOR + timedelta(days=7)
    assert (delta.start, delta.end) == (ANCHOR, acc.anchor)
    assert 15 <= len(delta.post_ids) <= 30
    assert len(delta.mention_ids) == 60 + len(acc.truth.weekly_chats)  # one mention from each weekly chat
    # and two likes in each weekly chat, four of the recurring topic's posts
    assert len(delta.liked_post_ids) == 100 + 2 * len(acc.truth.weekly_chats) + 4 * len(acc.truth.topic_tags)
    assert 28 <= len(delta.dm_event_ids) <= 36
    assert len(delta.new_following_ids) == 15
    assert len(delta.new_follower_ids) == 25
    assert len(delta.lost_follower_ids) == 3
    assert set(delta.lost_follower_ids) <= before_followers
    assert not set(delta.lost_follower_ids) & set(acc.follower_times)
    # the new items sit on top, inside the week
    assert [p.id for p in acc.posts[: len(delta.post_ids)]] == delta.post_ids
    assert [m.id for m in acc.mentions[: len(delta.mention_ids)]] == delta.mention_ids
    assert [u.id for u in acc.following[:15]] == delta.new_following_ids
    for tweet in acc.posts[: len(delta.post_ids)] + acc.mentions[:60]:
        assert tweet.created_at and ANCHOR <= tweet.created_at < acc.anchor
    metrics = acc.me.public_metrics
    assert metrics is not None
    assert metrics.followers_count == len(acc.followers) == 1000 + 25 - 3
    assert metrics.following_count == len(acc.following) == 1015
    assert delta.new_resource_count == sum(
        len(ids)
        for ids in (
            delta.post_ids,
            delta.mention_ids,
            delta.liked_post_ids,
            delta.dm_event_ids,
            delta.new_following_ids,
            delta.new_follower_ids,
        )
    )
    # truth follows the data: the week's answers moved mentions out of "unanswered"
    assert set(delta.late_answered_mention_ids) <= acc.truth.answered_mention_ids
    assert acc.truth.passive_follow_ids == set(acc.follow_times) - set(outbound_targets(acc))
    assert set(delta.auto_dm_sender_ids) <= acc.truth.auto_dm_sender_ids
    assert acc.weeks == [delta]
    # deterministic
    assert advance_week(twin, seed=1).post_ids == delta.post_ids
    assert summary(twin) == summary(acc)


def test_advance_week_scales_with_profile() -> None:
    small = generate_account(2, "small", ANCHOR)
    delta = advance_week(small, seed=3)
    # the profile's twelve, plus one mention from each weekly chat among followees
    assert len(delta.mention_ids) == 12 + len(small.truth.weekly_chats) and len(delta.new_follower_ids) == 5
    assert len(small.followers) == 200 + 5 - 1
