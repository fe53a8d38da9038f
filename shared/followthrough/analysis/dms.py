"""Automated DMs, received and sent, from DM metadata (fingerprints and flags, never texts).

Each signal of an incoming opener is a named function below; ``find_auto_dms`` adds up their
weights. A business's welcome message (``WelcomeMessageCreate``) is automated by definition: it is
reported whatever the other signals say.
"""

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

MESSAGE = "MessageCreate"
WELCOME = "WelcomeMessageCreate"
REACTION = "ReactionCreate"
_TEXTS = (MESSAGE, WELCOME)
WELCOME_REASON = "a welcome message: businesses set these to go out automatically"


def _time_order(event: DmEvent) -> tuple[float, str]:
    return event.created_at.timestamp(), event.id


@dataclass
class DmFindings:
    received: list[AutoDmReceived] = field(default_factory=list)
    sent: list[AutoDmSent] = field(default_factory=list)
    # conversations first seen in this activity -> first message time
    new_conversations: dict[str, datetime] = field(default_factory=dict)
    openers_received: int = 0


@dataclass
class _Threads:
    """The DMs grouped the ways the signals need them."""

    # conversation id -> its messages (and welcome messages), oldest first
    texts: dict[str, list[DmEvent]] = field(default_factory=dict)
    # conversation id -> its reactions
    reactions: dict[str, list[DmEvent]] = field(default_factory=dict)
    # conversation id -> the other person, for one-to-one conversations
    partners: dict[str, str] = field(default_factory=dict)
    # masked text -> who sent it (texts long enough to count)
    senders_of: dict[str, set[str]] = field(default_factory=dict)
    # conversation id -> the subscriber's texts long enough to count: the candidates for automated DMs sent
    mine: dict[str, list[DmEvent]] = field(default_factory=dict)
    # conversation id -> the subscriber's welcome messages too short to count as such texts
    short_welcomes: dict[str, list[DmEvent]] = field(default_factory=dict)


def _threads(events: list[DmEvent], me: str, min_words: int) -> _Threads:
    found = _Threads()
    for event in sorted(events, key=_time_order):
        conversation_id = event.conversation_id
        if event.event_type == REACTION:
            found.reactions.setdefault(conversation_id, []).append(event)
            continue
        if event.event_type not in _TEXTS:
            continue
        found.texts.setdefault(conversation_id, []).append(event)
        if conversation_id not in found.partners:
            partner = dm_partner(event, me)
            if partner is not None:
                found.partners[conversation_id] = partner
        if event.fingerprint and event.word_count >= min_words:
            found.senders_of.setdefault(event.fingerprint, set()).add(event.sender_id)
            if event.sender_id == me:
                found.mine.setdefault(conversation_id, []).append(event)
        elif event.event_type == WELCOME and event.sender_id == me:
            found.short_welcomes.setdefault(conversation_id, []).append(event)
    return found


@dataclass
class _Signals:
    """What the signals of one opener need besides the opener itself."""

    me: str
    cfg: AnalysisConfig
    threads: _Threads
    follower_since: Callable[[str], datetime | None]
    follower_exact: Callable[[str], bool]

    def right_after_follow(self, user_id: str, at: datetime) -> bool:
        since = self.follower_since(user_id)
        # a follow X dated has no weekly "first seen" slack
        slack = (
            timedelta(seconds=self.cfg.follow_event_slack_s)
            if self.follower_exact(user_id)
            else timedelta(days=self.cfg.follow_seen_slack_days)
        )
        return since is not None and since - slack <= at <= since + timedelta(hours=self.cfg.follow_dm_max_delay_hours)

    def after_follow(self, opener: DmEvent, partner: str) -> tuple[float, str] | None:
        if self.right_after_follow(partner, opener.created_at):
            return self.cfg.w_after_follow, "sent right after they followed you"
        return None

    def link(self, opener: DmEvent, partner: str) -> tuple[float, str] | None:
        return (self.cfg.w_link, "contains a link") if opener.has_link else None

    def call_to_action(self, opener: DmEvent, partner: str) -> tuple[float, str] | None:
        if opener.has_call_to_action:
            return self.cfg.w_call_to_action, 'contains a call to action ("check out", "subscribe", ...)'
        return None

    def no_follow_up(self, opener: DmEvent, partner: str) -> tuple[float, str] | None:
        my_reply = self.my_reply(opener.conversation_id)
        if self.wrote_back(opener.conversation_id, partner, my_reply):
            return None
        return self.cfg.w_no_follow_up, (
            "you replied and they never wrote back" if my_reply else "no back-and-forth followed"
        )

    def duplicate(self, opener: DmEvent, partner: str) -> tuple[float, str] | None:
        if not opener.fingerprint or opener.word_count < self.cfg.duplicate_min_words:
            return None
        others = len(self.threads.senders_of[opener.fingerprint] - {partner, self.me})
        if others < self.cfg.duplicate_min_other_senders:
            return None
        return self.cfg.w_duplicate, f"same text as {plural(others, 'other sender')} once names and links are masked"

    def my_reply(self, conversation_id: str) -> datetime | None:
        return next((e.created_at for e in self.threads.texts[conversation_id] if e.sender_id == self.me), None)

    def wrote_back(self, conversation_id: str, partner: str, my_reply: datetime | None) -> bool:
        """They wrote (or reacted) after the subscriber's first reply: a real exchange."""
        if my_reply is None:
            return False
        later = [*self.threads.texts[conversation_id], *self.threads.reactions.get(conversation_id, ())]
        return any(e.sender_id == partner and e.created_at > my_reply for e in later)


def _judge(opener: DmEvent, partner: str, signals: _Signals) -> tuple[float, list[str]] | None:
    """An opener's confidence and reasons, None when it is not reported."""
    cfg = signals.cfg
    if opener.event_type == WELCOME:
        return 1.0, [WELCOME_REASON]
    score, reasons = cfg.w_first_message, ["first message of a new conversation"]
    found: dict[str, tuple[float, str]] = {}
    for name in ("after_follow", "link", "call_to_action", "no_follow_up", "duplicate"):
        hit = getattr(signals, name)(opener, partner)
        if hit is not None:
            found[name] = hit
            score += hit[0]
            reasons.append(hit[1])
    if "no_follow_up" not in found and "duplicate" not in found:
        return None  # a real exchange followed: only a text also sent by others still counts as automated
    confidence = round(min(score, 1.0), 2)
    return (confidence, reasons) if confidence >= cfg.auto_dm_min_confidence else None


def find_auto_dms(
    events: list[DmEvent],
    subscriber_id: str,
    known_conversations: dict[str, datetime],
    follower_since: Callable[[str], datetime | None],
    usernames: Callable[[str], str | None],
    cfg: AnalysisConfig,
    window_start: datetime,
    now: datetime,
    follower_exact: Callable[[str], bool] = lambda _user_id: False,
) -> DmFindings:
    """Score incoming conversation openers; flag one masked text the subscriber sent to many people.

    Only one-to-one conversations are judged: group conversations are where
    people talk to several others on purpose.
    """
    me = subscriber_id
    out = DmFindings()
    threads = _threads(events, me, cfg.duplicate_min_words)
    signals = _Signals(me, cfg, threads, follower_since, follower_exact)
    openers: set[str] = set()
    for conversation_id, thread in threads.texts.items():
        if conversation_id in known_conversations:
            continue
        opener = thread[0]
        out.new_conversations[conversation_id] = opener.created_at
        openers.add(opener.id)
        partner = threads.partners.get(conversation_id)
        if partner is None or opener.sender_id == me or not window_start <= opener.created_at <= now:
            continue
        out.openers_received += 1
        judged = _judge(opener, partner, signals)
        if judged is not None:
            out.received.append(
                AutoDmReceived(
                    sender_id=partner,
                    sender_username=usernames(partner),
                    event_id=opener.id,
                    conversation_id=conversation_id,
                    confidence=judged[0],
                    reasons=judged[1],
                    sent_at=opener.created_at,
                )
            )
    out.received.sort(key=lambda d: (-d.confidence, -(d.sent_at or now).timestamp(), d.event_id))
    out.sent = _sent(threads, signals, openers, window_start, now)
    return out


def _sends(threads: _Threads) -> dict[str, list[tuple[DmEvent, str]]]:
    """The subscriber's texts by masked text, with whom each went to (one-to-one conversations only)."""
    sends: dict[str, list[tuple[DmEvent, str]]] = defaultdict(list)
    for conversation_id, partner in threads.partners.items():
        for event in (*threads.mine.get(conversation_id, ()), *threads.short_welcomes.get(conversation_id, ())):
            sends[event.fingerprint or ""].append((event, partner))
    return sends


def _sent(
    threads: _Threads, signals: _Signals, openers: set[str], window_start: datetime, now: datetime
) -> list[AutoDmSent]:
    """One masked text the subscriber sent to many people, or their account's welcome message."""
    cfg = signals.cfg
    out: list[AutoDmSent] = []
    for fingerprint, group in _sends(threads).items():
        welcome = any(event.event_type == WELCOME for event, _ in group)
        recipients = sorted({partner for _, partner in group})
        if not welcome and len(recipients) < cfg.auto_dm_sent_min_recipients:
            continue  # fewer recipients than needed (most texts are sent once)
        if not any(window_start <= event.created_at <= now for event, _ in group):
            continue
        reasons = [WELCOME_REASON.replace("a welcome message", "your account's welcome message")] if welcome else []
        reasons.append(
            f"you sent the same message to {plural(len(recipients), 'person', 'people')} "
            "once names and links are masked"
        )
        started = sum(1 for event, _ in group if event.id in openers)
        if started:
            reasons.append(f"{started} of them started a new conversation")
        after_follow = sum(1 for event, partner in group if signals.right_after_follow(partner, event.created_at))
        if after_follow:
            reasons.append(
                f"{after_follow} went out right after someone followed you; "
                "X's rules do not allow automated DMs to new followers"
            )
        out.append(
            AutoDmSent(
                fingerprint=fingerprint,
                recipient_ids=recipients,
                count=len(group),
                reasons=reasons,
                last_sent_at=max(event.created_at for event, _ in group),
            )
        )
    out.sort(key=lambda s: (-s.count, s.fingerprint))
    return out
