"""X Activity API follow events: what they say, and how they change the follow lists the collector keeps.

Pure domain: no I/O. X's ``follow.follow`` / ``follow.unfollow`` payloads
(x-api/activity/event-payloads.mdx) carry ``source`` (who follows) and
``target`` (who is followed) but no time of their own; X delivers them with
sub-second latency (x-api/activity/introduction.mdx), so the time the webhook
received an event's first delivery is its time (``at``). Deliveries can repeat
("deduplicate by event ID", x-api/webhooks/quickstart.mdx) and a replay job
re-sends up to 24 hours of them: an event is kept once, by its ``event_uuid``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from followthrough.activity import Activity, FollowEdge

FollowEventType = Literal["follow.follow", "follow.unfollow"]
FOLLOW: FollowEventType = "follow.follow"
UNFOLLOW: FollowEventType = "follow.unfollow"
REVOKE = "oauth.revoke"
# the subscriptions each subscriber gets (one event type for one user each); oauth.revoke is the app's, unfiltered
SUBSCRIBER_EVENT_TYPES: tuple[FollowEventType, ...] = (FOLLOW, UNFOLLOW)

# follow-list name -> edges keyed by user id, as the collector stores them: [since (ISO) or None, username, ...]
# (a followee carries more: pipeline/collect.py `_entry`)
Graphs = dict[str, dict[str, list[str | bool | None]]]


class FollowEvent(BaseModel):
    """One follow or unfollow by or of the subscriber (whose X id is the subscription's ``filter.user_id``)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_type: FollowEventType
    source_id: str  # who follows (or unfollows)
    source_username: str | None = None
    target_id: str  # who is (or was) followed
    target_username: str | None = None
    at: datetime  # when the webhook first received it (X's payload carries no time)


class Revocation(BaseModel):
    """``oauth.revoke``: the user with this X id took the app's access away."""

    event_id: str
    user_id: str


class MalformedEvent(ValueError):
    """A signed delivery that is not an event we understand the shape of."""


def _user(block: Any) -> tuple[str, str | None]:
    data = block.get("data") if isinstance(block, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise MalformedEvent("a follow event without its source or target user id")
    username = data.get("username")
    return data["id"], username if isinstance(username, str) else None


def parse_delivery(body: Any, received_at: datetime) -> FollowEvent | Revocation | None:
    """The event of one webhook POST body; None for what carries no event of ours (another event type, a
    replay job's status message). ``MalformedEvent`` when a follow or revoke event lacks what it must have."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return None
    event_type, event_id, payload = data.get("event_type"), data.get("event_uuid"), data.get("payload")
    if event_type not in (FOLLOW, UNFOLLOW, REVOKE):
        return None
    if not isinstance(event_id, str) or not event_id or not isinstance(payload, dict):
        raise MalformedEvent(f"a {event_type} event without its event_uuid or payload")
    if event_type == REVOKE:
        user_id = payload.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise MalformedEvent("an oauth.revoke event without its user_id")
        return Revocation(event_id=event_id, user_id=user_id)
    source_id, source_username = _user(payload.get("source"))
    target_id, target_username = _user(payload.get("target"))
    return FollowEvent(
        event_id=event_id,
        event_type=event_type,
        source_id=source_id,
        source_username=source_username,
        target_id=target_id,
        target_username=target_username,
        at=received_at,
    )


def _side(event: FollowEvent, me: str) -> tuple[str, str, str | None] | None:
    """(follow list, the other person's id, their username) of the subscriber ``me``; None if neither is me."""
    if event.source_id == me:
        return "following", event.target_id, event.target_username
    if event.target_id == me:
        return "followers", event.source_id, event.source_username
    return None


def in_order(events: Iterable[FollowEvent]) -> list[FollowEvent]:
    return sorted(events, key=lambda e: (e.at, e.event_id))


def apply_to_graphs(
    graphs: Graphs, events: Iterable[FollowEvent], me: str, *, new: Collection[str] | None = None
) -> set[str]:
    """Apply the events to the follow lists; returns the lists that changed.

    ``events``: every event stored; ``new``: the ids of those not applied yet (None: all are). For each
    person a new event is about, the latest of all their events decides, so one delivered late changes
    nothing a later one settled. A follow adds the edge with the event's time (an edge already known
    keeps its own, earlier record); an unfollow removes it, unless the edge was first seen after the
    unfollow (a re-follow a read found since). A list not read yet is left to its first, whole read.
    Applying the same events again changes nothing.
    """
    latest: dict[tuple[str, str], FollowEvent] = {}
    touched: set[tuple[str, str]] = set()
    usernames: dict[tuple[str, str], str | None] = {}
    for event in in_order(events):
        side = _side(event, me)
        if side is None or not graphs[side[0]]:
            continue
        key = (side[0], side[1])
        latest[key], usernames[key] = event, side[2]
        if new is None or event.event_id in new:
            touched.add(key)
    changed: set[str] = set()
    for key in sorted(touched):
        which, other = key
        event, edges = latest[key], graphs[which]
        if event.event_type == FOLLOW:
            if other not in edges:
                edges[other] = [event.at.isoformat(), usernames[key]]
                changed.add(which)
        elif other in edges:
            since = edges[other][0]
            if not isinstance(since, str) or datetime.fromisoformat(since) <= event.at:
                del edges[other]
                changed.add(which)
    return changed


def follow_times(events: Iterable[FollowEvent], me: str) -> dict[str, dict[str, datetime]]:
    """Follow list -> user id -> when the follow happened, for follows not undone by a later unfollow."""
    times: dict[str, dict[str, datetime]] = {"following": {}, "followers": {}}
    for event in in_order(events):
        side = _side(event, me)
        if side is None:
            continue
        which, other, _ = side
        if event.event_type == FOLLOW:
            times[which][other] = event.at
        else:
            times[which].pop(other, None)
    return times


def with_follow_times(activity: Activity, events: Iterable[FollowEvent]) -> Activity:
    """The activity with X's follow times on the edges the events date (``FollowEdge.exact``)."""
    times = follow_times(events, activity.subscriber.id)
    if not any(times.values()):
        return activity

    def dated(edges: list[FollowEdge], known: dict[str, datetime]) -> list[FollowEdge]:
        return [
            e.model_copy(update={"since": known[e.user_id], "exact": True}) if e.user_id in known else e for e in edges
        ]

    return activity.model_copy(
        update={
            "following": dated(activity.following, times["following"]),
            "followers": dated(activity.followers, times["followers"]),
        }
    )
