"""Automated DMs, received and sent, from DM metadata (fingerprints and flags, never texts)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from followthrough.activity import DmEvent
from followthrough.analysis.config import AnalysisConfig
from followthrough.analysis.interactions import dm_partner
from followthrough.analysis.wording import plural
from followthrough.report import AutoDmReceived, AutoDmSent


def _time_order(event: DmEvent) -> tuple[float, str]:
    return event.created_at.timestamp(), event.id


@dataclass
class DmFindings:
    received: list[AutoDmReceived] = field(default_factory=list)
    sent: list[AutoDmSent] = field(default_factory=list)
    # conversations first seen in this activity -> first message time
    new_conversations: dict[str, datetime] = field(default_factory=dict)
    openers_received: int = 0


def find_auto_dms(
    events: list[DmEvent],
    subscriber_id: str,
    known_conversations: dict[str, datetime],
    follower_since: Callable[[str], datetime | None],
    usernames: Callable[[str], str | None],
    cfg: AnalysisConfig,
    window_start: datetime,
    now: datetime,
) -> DmFindings:
    """Score incoming conversation openers; flag one masked text the subscriber sent to many people.

    Only one-to-one conversations are judged: group conversations are where
    people talk to several others on purpose.
    """
    me = subscriber_id
    out = DmFindings()
    min_words = cfg.duplicate_min_words
    messages = [e for e in events if e.event_type == "MessageCreate"]
    messages.sort(key=_time_order)
    conversations: dict[str, list[DmEvent]] = {}
    partners: dict[str, str] = {}
    senders_of: dict[str, set[str]] = {}
    # the subscriber's texts long enough to count, per conversation: the candidates for automated DMs sent
    mine: dict[str, list[DmEvent]] = {}
    for event in messages:
        conversation_id = event.conversation_id
        thread = conversations.get(conversation_id)
        if thread is None:
            conversations[conversation_id] = [event]
        else:
            thread.append(event)
        if conversation_id not in partners:
            partner = dm_partner(event, me)
            if partner is not None:
                partners[conversation_id] = partner
        fp = event.fingerprint
        if fp and event.word_count >= min_words:
            sender = event.sender_id
            senders = senders_of.get(fp)
            if senders is None:
                senders_of[fp] = {sender}
            else:
                senders.add(sender)
            if sender == me:
                own = mine.get(conversation_id)
                if own is None:
                    mine[conversation_id] = [event]
                else:
                    own.append(event)

    slack = timedelta(days=cfg.follow_seen_slack_days)
    delay = timedelta(hours=cfg.follow_dm_max_delay_hours)

    def right_after_follow(user_id: str, at: datetime) -> bool:
        since = follower_since(user_id)
        return since is not None and since - slack <= at <= since + delay

    openers: set[str] = set()
    for conversation_id, thread in conversations.items():
        if conversation_id in known_conversations:
            continue
        opener = thread[0]
        out.new_conversations[conversation_id] = opener.created_at
        openers.add(opener.id)
        partner = partners.get(conversation_id)
        if partner is None or opener.sender_id == me or not window_start <= opener.created_at <= now:
            continue
        out.openers_received += 1
        score, reasons = cfg.w_first_message, ["first message of a new conversation"]
        if right_after_follow(partner, opener.created_at):
            score += cfg.w_after_follow
            reasons.append("sent right after they followed you")
        if opener.has_link:
            score += cfg.w_link
            reasons.append("contains a link")
        if opener.has_call_to_action:
            score += cfg.w_call_to_action
            reasons.append('contains a call to action ("check out", "subscribe", ...)')
        my_reply: datetime | None = None
        for event in thread:
            if event.sender_id == me:
                my_reply = event.created_at
                break
        wrote_back = False
        if my_reply is not None:
            for event in thread:
                if event.sender_id == partner and event.created_at > my_reply:
                    wrote_back = True
                    break
        if not wrote_back:
            score += cfg.w_no_follow_up
            reasons.append("you replied and they never wrote back" if my_reply else "no back-and-forth followed")
        duplicate = False
        if opener.fingerprint and opener.word_count >= cfg.duplicate_min_words:
            others = len(senders_of[opener.fingerprint] - {partner, me})
            if others >= cfg.duplicate_min_other_senders:
                duplicate = True
                score += cfg.w_duplicate
                reasons.append(f"same text as {plural(others, 'other sender')} once names and links are masked")
        if wrote_back and not duplicate:
            continue  # a real exchange followed: only a text also sent by others still counts as automated
        confidence = round(min(score, 1.0), 2)
        if confidence >= cfg.auto_dm_min_confidence:
            out.received.append(AutoDmReceived(
                sender_id=partner, sender_username=usernames(partner), event_id=opener.id,
                conversation_id=conversation_id, confidence=confidence, reasons=reasons,
                sent_at=opener.created_at))
    out.received.sort(key=lambda d: (-d.confidence, -(d.sent_at or now).timestamp(), d.event_id))

    # the subscriber's side: one masked text to many people
    sends: dict[str, list[tuple[DmEvent, str]]] = defaultdict(list)
    for conversation_id in conversations:
        partner = partners.get(conversation_id)
        own = mine.get(conversation_id)
        if partner is None or own is None:
            continue
        for event in own:
            sends[event.fingerprint or ""].append((event, partner))
    for fingerprint, group in sends.items():
        if len(group) < cfg.auto_dm_sent_min_recipients:
            continue  # fewer messages than the recipients needed (most texts are sent once)
        recipients = sorted({partner for _, partner in group})
        if len(recipients) < cfg.auto_dm_sent_min_recipients:
            continue
        if not any(window_start <= event.created_at <= now for event, _ in group):
            continue
        reasons = [f"you sent the same message to {plural(len(recipients), 'person', 'people')} "
                   "once names and links are masked"]
        started = sum(1 for event, _ in group if event.id in openers)
        if started:
            reasons.append(f"{started} of them started a new conversation")
        after_follow = sum(1 for event, partner in group if right_after_follow(partner, event.created_at))
        if after_follow:
            reasons.append(f"{after_follow} went out right after someone followed you; "
                           "X's rules do not allow automated DMs to new followers")
        out.sent.append(AutoDmSent(
            fingerprint=fingerprint, recipient_ids=recipients, count=len(group), reasons=reasons,
            last_sent_at=max(event.created_at for event, _ in group)))
    out.sent.sort(key=lambda s: (-s.count, s.fingerprint))
    return out
