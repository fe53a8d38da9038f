"""The five concrete conversations the digest suggests."""

from __future__ import annotations

from collections.abc import Callable
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
) -> list[Conversation]:
    """Answer waiting mentions first, then greet the best passive follows, then welcome new followers."""
    picked: list[Conversation] = []
    people: set[str] = set()

    def add(item: Conversation) -> None:
        if item.user_id not in people:
            people.add(item.user_id)
            picked.append(item)

    for mention in unanswered:
        if len(picked) >= limit:
            return picked
        if mention.replied_at is not None:
            continue  # answered late: nothing left to ask
        who = handle(mention.author_username, "Someone")
        when = ago(now - mention.created_at) if mention.created_at else "recently"
        add(Conversation(
            kind="answer_mention", user_id=mention.author_id, username=mention.author_username,
            url=mention.url or post_url(mention.tweet_id, mention.author_username),
            reason=f"{who} mentioned you {when} and is still waiting for an answer."))
    for follow in passive:
        if len(picked) >= limit:
            return picked
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
        add(Conversation(
            kind="greet_followee", user_id=follow.user_id, username=follow.username,
            url=person_url(follow.user_id, follow.username),
            reason=f"{', and '.join(facts)}, but you haven't talked in a while. Reply to their next post or say hi."))
    for edge in new_followers:
        if len(picked) >= limit:
            return picked
        username = edge.account.username or usernames(edge.account.id)
        when = ago(now - edge.since) if edge.since else "recently"
        add(Conversation(
            kind="welcome_follower", user_id=edge.account.id, username=username,
            url=person_url(edge.account.id, username),
            reason=f"{handle(username, 'Someone new')} started following you ({when}). "
                   "A quick hello goes a long way."))
    return picked
