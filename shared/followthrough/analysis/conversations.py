"""The five concrete conversations the digest suggests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from followthrough.activity import FollowEdge
from followthrough.analysis.wording import ago, duration, handle, person_url, post_url
from followthrough.report import Conversation, PassiveFollow, UnansweredMention


def pick_conversations(
    unanswered: list[UnansweredMention],
    passive: list[PassiveFollow],
    new_followers: list[FollowEdge],
    usernames: Callable[[str], str | None],
    now: datetime,
    limit: int,
    mentions_first: int = 3,
) -> list[Conversation]:
    """A mix: up to ``mentions_first`` waiting mentions, then the best passive follow and the newest
    follower not yet greeted; what is left of ``limit`` goes to whoever is still waiting, in that order.

    One person appears once, in the first conversation found for them.
    """
    answers = (_answer(m, now) for m in unanswered if m.replied_at is None)
    greetings = (_greet(f, now) for f in passive)
    welcomes = (_welcome(e, usernames, now) for e in new_followers)
    picked: list[Conversation] = []
    people: set[str] = set()

    def take(source: Iterator[Conversation], most: int) -> None:
        taken = 0
        while len(picked) < limit and taken < most:  # check before pulling: a pulled item is gone
            item = next(source, None)
            if item is None:
                return
            if item.user_id not in people:
                people.add(item.user_id)
                picked.append(item)
                taken += 1

    take(answers, mentions_first)
    take(greetings, 1)
    take(welcomes, 1)
    for source in (answers, greetings, welcomes):
        take(source, limit)
    return picked


def _answer(mention: UnansweredMention, now: datetime) -> Conversation:
    who = handle(mention.author_username, "Someone")
    when = ago(now - mention.created_at) if mention.created_at else "recently"
    return Conversation(
        kind="answer_mention",
        user_id=mention.author_id,
        username=mention.author_username,
        url=mention.url or post_url(mention.tweet_id, mention.author_username),
        reason=f"{who} mentioned you {when} and is still waiting for an answer.",
        post_id=mention.tweet_id,
        about_at=mention.created_at,
    )


def _greet(follow: PassiveFollow, now: datetime) -> Conversation:
    who = handle(follow.username, "this account")
    facts = []
    if follow.followed_since is not None:
        facts.append(f"You've followed {who} for {duration(now - follow.followed_since)}")
    else:
        facts.append(f"You follow {who}")
    if follow.mentioned_you:
        facts.append("they mentioned you recently")
    elif follow.follows_back:
        facts.append("they follow you back")
    return Conversation(
        kind="greet_followee",
        user_id=follow.user_id,
        username=follow.username,
        url=person_url(follow.user_id, follow.username),
        reason=f"{', and '.join(facts)}, but you haven't talked in a while. Reply to their next post or say hi.",
    )


def _welcome(edge: FollowEdge, usernames: Callable[[str], str | None], now: datetime) -> Conversation:
    username = edge.username or usernames(edge.user_id)
    when = ago(now - edge.since) if edge.since else "recently"
    return Conversation(
        kind="welcome_follower",
        user_id=edge.user_id,
        username=username,
        url=person_url(edge.user_id, username),
        reason=f"{handle(username, 'Someone new')} started following you ({when}). A quick hello goes a long way.",
        about_at=edge.since,
    )
