"""What the digest says, worked out from the report before any template sees it.

Templates only lay out what is here: every sentence, number and link of the
digest is built (and unit-tested) in this module, once for the HTML and the
plain-text part alike. Names and post texts stay raw strings; the templates
escape them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from followthrough.analysis.config import AnalysisConfig
from followthrough.analysis.wording import UNAVAILABLE_WORDS, duration, plural
from followthrough.digest.insights import Insights, build_insights
from followthrough.digest.words import QUOTE_CHARS, handle, profile_url, short
from followthrough.report import AUTO_DMS_SHOWN, AutoDmReceived, Conversation, UnansweredMention, WeeklyReport
from followthrough.subscriber import TURNED_OFF

TREND_WEEKS = 8
CHART_HEIGHT_PX = 64
MORE_PEOPLE = 3  # passive follows named beyond the five conversations
DMS_SHOWN = AUTO_DMS_SHOWN

# the collector's endpoint names, as the reader knows them
READS = {
    "users_me": "your profile",
    "tweets": "your posts",
    "mentions": "mentions of you",
    "liked_tweets": "your likes",
    "following": "who you follow",
    "followers": "your followers",
    "dm_events": "your direct messages",
    "search_recent": "the search for posts naming you without the @",
}
# the analysis input each read feeds (report.unavailable uses these names)
READ_INPUTS = {
    "tweets": "posts",
    "liked_tweets": "likes",
    "dm_events": "dm_events",
    "mentions": "mentions",
    "following": "following",
    "followers": "followers",
    "search_recent": "search_recent",
}

KIND_LABELS = {"answer_mention": "Answer", "greet_followee": "Say hello", "welcome_follower": "Welcome"}
KIND_NOBODY = {
    "answer_mention": "a mention",
    "greet_followee": "someone you follow",
    "welcome_follower": "a new follower",
}
KIND_ACTIONS = {
    "answer_mention": "Reply on X",
    "greet_followee": "Open their profile",
    "welcome_follower": "Say hello on X",
}
# an en dash: what a chart or number shows for a week that could not be measured
NOT_MEASURED = "\u2013"
X_HOSTS = ("https://x.com/", "https://twitter.com/", "https://mobile.twitter.com/")

_PARENTHESES = re.compile(r"\s*\([^)]*\)")
# the signals that best explain an automated DM, most telling first
_DM_REASON_ORDER = ("same text", "right after", "call to action", "link", "never wrote back", "back-and-forth")


# -- small pieces -------------------------------------------------------------------------------------


def x_url(url: str | None, fallback: str) -> str:
    """Only links to X itself: the report's URLs are built from X data, never trusted blindly."""
    return url if url and url.startswith(X_HOSTS) and '"' not in url and " " not in url else fallback


def percent(value: float | int | None) -> str:
    return NOT_MEASURED if value is None else f"{round(float(value) * 100)}%"


def number(value: float | int | None) -> str:
    if value is None:
        return NOT_MEASURED
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.1f}"


def week_label(week: str) -> str:
    """'2026-W47' -> 'W47'."""
    return week.rpartition("-")[2] or week


def period(start: datetime | None, end: datetime | None) -> str:
    """'3-10 Jan 2027', '27 Dec 2026 - 3 Jan 2027' (with en dashes)."""
    if start is None or end is None:
        return ""
    if start.year != end.year:
        return f"{start:%-d %b %Y} {NOT_MEASURED} {end:%-d %b %Y}"
    if start.month != end.month:
        return f"{start:%-d %b} {NOT_MEASURED} {end:%-d %b %Y}"
    return f"{start:%-d}{NOT_MEASURED}{end:%-d %b %Y}"


# -- the parts of the digest ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    score: str  # "35", or NOT_MEASURED
    change: str  # "4 points lower than last week", "" in the first week
    direction: str  # "up", "down", "same" or "new"
    nudge: str  # the one thing that would help most, or ""


@dataclass(frozen=True)
class ConversationItem:
    kind: str
    label: str
    who: str
    url: str
    reason: str
    quote: str
    action: str


@dataclass(frozen=True)
class Person:
    who: str
    url: str


@dataclass(frozen=True)
class MorePeople:
    passive: list[Person]
    passive_count: int | None
    window_days: int | None
    new_not_greeted: int | None
    followers_url: str


@dataclass(frozen=True)
class DmReceived:
    who: str
    url: str
    why: str
    sure: str  # "very likely" / "likely"


@dataclass(frozen=True)
class Dms:
    received: list[DmReceived]
    total: int
    more_received: int
    sent_warnings: list[str]
    measured: bool
    turned_off: bool = False  # not measured because the subscriber turned the read off
    in_part: bool = False  # not measured because only part of the week's messages was read (the rest next week)


@dataclass(frozen=True)
class Bar:
    """One week of a chart: the bar's height in px (and a stacked second part)."""

    label: str
    value: str
    height: int
    rest: int = 0
    current: bool = False


@dataclass(frozen=True)
class Chart:
    title: str
    summary: str
    bars: list[Bar]
    legend: list[tuple[str, str]]  # (css class, label)
    text_rows: list[str]


@dataclass(frozen=True)
class Challenge:
    interacted: int
    followees: int
    share: float
    percent: str
    window_days: int | None
    change: str
    # "" when who the subscriber follows agrees with X; else one sentence saying as of when it does
    as_of: str = ""
    relationships: int | None = None  # followees who are relationships


# -- issue 15's parts, filled by digest.followup.with_follow_through --------------------------------


@dataclass(frozen=True)
class FollowUpView:
    opening: str  # "You had 3 of last week's 5 conversations."
    still_open: list[Person]  # carried forward to this week
    expired_line: str  # "Let go after two digests: welcoming @carl."
    streak_line: str


@dataclass(frozen=True)
class RelationshipsView:
    count: int
    change: str  # "2 more than last week", "" when not known
    new: list[Person]
    more_new: int
    followees: int | None
    trend: str  # "2 · 3 · 3 · 4", oldest first, this week last; "" until two weeks were measured


@dataclass(frozen=True)
class FollowForFollowView:
    people: list[Person]
    more: int


@dataclass
class DigestView:
    title: str
    period: str
    first_week: bool
    preheader: str
    headline: Headline
    conversations: list[ConversationItem]
    more: MorePeople
    charts: list[Chart]
    dms: Dms
    posting: list[str]
    posting_warnings: list[str]
    challenge: Challenge | None
    not_measured: list[str] = field(default_factory=list)
    hidden: frozenset[str] = frozenset()  # sections the subscriber left out (subscriber.DIGEST_SECTIONS)
    insights: Insights | None = None  # chats worth joining, mentions without the @, quiet followees
    # issue 15 (digest.followup.with_follow_through): the last digest's conversations followed up,
    # relationships, follow-for-follow followers
    follow_up: FollowUpView | None = None
    relationships: RelationshipsView | None = None
    follow_for_follow: FollowForFollowView | None = None


# -- building it ---------------------------------------------------------------------------------------


def _change(delta: float | None, unit: str = "point") -> tuple[str, str]:
    if delta is None:
        return "", "new"
    steps = round(delta)
    if steps == 0:
        return "the same as last week", "same"
    word = plural(abs(steps), unit)
    return (f"{word} higher than last week", "up") if steps > 0 else (f"{word} lower than last week", "down")


def _nudge(m: dict[str, float | int | None], report: WeeklyReport, cfg: AnalysisConfig) -> str:
    """The component of the score with the most room to grow, as one friendly sentence."""
    if m.get("auto_dms_sent"):
        return "Quickest way up: stop the automated DMs. They cost you points and rarely get an answer."
    if m.get("twittiarrhea"):
        return "Quickest way up: space your posts out. Bursts flood timelines and cost you points."
    grace = duration(timedelta(hours=cfg.unanswered_grace_hours))
    options: list[tuple[float, str]] = []
    conversation, response = m.get("conversation_share"), m.get("response_rate")
    if conversation is not None:
        options.append(
            (
                cfg.score_w_conversation * (1 - conversation),
                f"reply more than you broadcast. {percent(conversation)} of your posts were replies or quotes.",
            )
        )
    if response is not None:
        options.append(
            (
                cfg.score_w_response * (1 - response),
                f"answer the people who mention you. {percent(response)} got an answer within {grace}.",
            )
        )
    share = m.get("challenge_share")
    if share is not None:
        reach = min(share / cfg.challenge_target, 1.0)
        days = report.challenge.window_days or cfg.passive_window_days
        options.append(
            (
                cfg.score_w_reach_out * (1 - reach),
                f"talk with the people you follow. You talked with {percent(share)} of them in the last {days} days.",
            )
        )
    not_greeted = m.get("new_followers_not_greeted")
    # likely follow-for-follow followers are not expected to hear from the subscriber
    new = int(m.get("new_followers") or 0) - int(m.get("follow_for_follow_followers") or 0)
    if new > 0:
        options.append(
            (
                cfg.score_w_welcome * (not_greeted or 0) / new,
                f"welcome new followers. {number(not_greeted)} of {number(new)} haven't heard from you.",
            )
        )
    promo = m.get("self_promotion_share")
    if promo is not None:
        options.append(
            (
                cfg.score_w_own_voice * promo,
                f"share other people's work too. {percent(promo)} of the links you posted were your own.",
            )
        )
    room, sentence = max(options, default=(0.0, ""), key=lambda o: o[0])
    return f"Quickest way up: {sentence}" if room > 0.5 else ""


def _mention_text(conversation: Conversation, mentions: list[UnansweredMention]) -> str:
    if conversation.kind != "answer_mention":
        return ""
    same_post = [m for m in mentions if m.url == conversation.url]
    same_author = [m for m in mentions if m.author_id == conversation.user_id]
    match = next(iter(same_post or same_author), None)
    return short(match.text, QUOTE_CHARS) if match else ""


def _conversations(report: WeeklyReport) -> list[ConversationItem]:
    items = []
    for c in report.conversations:
        fallback = profile_url(c.user_id, c.username)
        items.append(
            ConversationItem(
                kind=c.kind,
                label=KIND_LABELS.get(c.kind, "Talk"),
                who=handle(c.username, KIND_NOBODY.get(c.kind, "someone")),
                url=x_url(c.url, fallback),
                reason=short(c.reason, 300),
                quote=_mention_text(c, report.unanswered_mentions),
                action=KIND_ACTIONS.get(c.kind, "Open on X"),
            )
        )
    return items


def _more(report: WeeklyReport) -> MorePeople:
    m = report.metrics
    named = {c.user_id for c in report.conversations}
    passive = [
        Person(handle(p.username, "an account you follow"), profile_url(p.user_id, p.username))
        for p in report.passive_follows
        if p.user_id not in named
    ][:MORE_PEOPLE]
    count = m.get("passive_follows")
    not_greeted = m.get("new_followers_not_greeted")
    welcomed_here = sum(1 for c in report.conversations if c.kind == "welcome_follower")
    me = quote(report.username, safe="") if report.username else ""
    return MorePeople(
        passive=passive,
        passive_count=None if count is None else int(count),
        window_days=report.challenge.window_days,
        new_not_greeted=None if not_greeted is None else max(int(not_greeted) - welcomed_here, 0),
        followers_url=f"https://x.com/{me}/followers" if me else "https://x.com/",
    )


def _dm_why(dm: AutoDmReceived) -> str:
    def rank(reason: str) -> int:
        return next((i for i, key in enumerate(_DM_REASON_ORDER) if key in reason), len(_DM_REASON_ORDER))

    telling = [
        _PARENTHESES.sub("", r).split(" once ")[0] for r in sorted(dm.reasons, key=rank) if "first message" not in r
    ][:3]
    return short("; ".join(telling) or "looks templated", 200)


def _dms(report: WeeklyReport, skipped: list[str]) -> Dms:
    received = [
        DmReceived(
            who=handle(d.sender_username, "An account"),
            url=(
                f"https://x.com/messages/{quote(d.conversation_id, safe='-')}"
                if d.conversation_id
                else profile_url(d.sender_id, d.sender_username)
            ),
            why=_dm_why(d),
            sure="very likely" if d.confidence >= 0.85 else "likely",
        )
        for d in report.auto_dms.received[:DMS_SHOWN]
    ]
    total = report.metrics.get("auto_dms_received")
    total_received = max(int(total or 0), len(report.auto_dms.received))
    warnings = []
    for sent in report.auto_dms.sent[:3]:
        people = plural(len(sent.recipient_ids), "person", "people")
        warning = (
            f"You sent the same message to {people}. To them it reads like an automated DM, "
            "and X's rules don't allow automated DMs to new followers. A personal line or two gets "
            "more answers."
        )
        if any("right after someone followed you" in r for r in sent.reasons):
            warning = (
                f"You sent the same message to {people}, some right after they followed you. "
                "X's rules don't allow automated DMs to new followers, and people rarely answer a "
                "template. Write to them in your own words instead."
            )
        warnings.append(warning)
    return Dms(
        received=received,
        total=total_received,
        more_received=total_received - len(received),
        sent_warnings=warnings,
        measured=report.metrics.get("auto_dms_received", 0) is not None,
        turned_off=f"dm_events: {TURNED_OFF}" in skipped,
        in_part=any(s.startswith("dm_events: read in part") for s in skipped),
    )


def _posting(m: dict[str, float | int | None]) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    warnings: list[str] = []
    posts = m.get("posts")
    if posts is None:
        return lines, warnings
    talk = int(m.get("replies") or 0) + int(m.get("quotes") or 0)
    broadcasts = int(m.get("broadcasts") or 0)
    lines.append(f"{plural(int(posts), 'post')}, about {number(m.get('posts_per_day'))} a day.")
    if posts:
        lines.append(
            f"{plural(talk, 'reply or quote', 'replies and quotes')} to other people, "
            f"{plural(broadcasts, 'broadcast')} to everyone."
        )
    hours = m.get("median_response_hours")
    if hours is not None:
        lines.append(f"When you answered a mention, it took you about {duration(timedelta(hours=float(hours)))}.")
    chats = m.get("hashtag_chats")
    if chats:
        lines.append(f"You joined {plural(int(chats), 'hashtag chat')}: conversations, not broadcasts. Nice.")
    bursts, heavy = int(m.get("bursts") or 0), int(m.get("heavy_days") or 0)
    if bursts:
        warnings.append(
            f"{plural(bursts, 'burst')} of several posts within minutes. Spread them out so they "
            "don't flood your followers' timelines."
        )
    if heavy:
        warnings.append(
            f"{plural(heavy, 'day')} with more posts than people can follow. Fewer, better posts get more replies."
        )
    links, own = m.get("links_shared"), m.get("own_links")
    if links and own and own / links >= 0.5 and links >= 2:
        warnings.append(
            f"{number(own)} of the {plural(int(links), 'link')} you shared pointed to your own sites. "
            "Sharing other people's work starts more conversations."
        )
    return lines, warnings


def _challenge(report: WeeklyReport) -> Challenge | None:
    c = report.challenge
    if c.share is None:
        return None
    earlier = [s for s in c.trend[:-1] if s is not None]
    change = ""
    if earlier:
        points = round((c.share - earlier[0]) * 100)
        weeks = len(c.trend) - 1 - next(i for i, s in enumerate(c.trend) if s is not None)
        since = "last week" if weeks == 1 else f"{weeks} weeks ago"
        change = (
            f"up {plural(points, 'point')} since {since}"
            if points > 0
            else f"down {plural(-points, 'point')} since {since}"
            if points < 0
            else f"the same as {since}"
        )
    return Challenge(
        interacted=c.interacted,
        followees=c.followees,
        share=c.share,
        percent=percent(c.share),
        window_days=c.window_days,
        change=change,
        as_of=following_as_of(report),
        relationships=c.relationships,
    )


def following_as_of(report: WeeklyReport) -> str:
    """The honest caveat while the stored followee set may be stale (pipeline/followees.py)."""
    at = report.following_as_of
    if at is None:
        return ""
    return (
        f"Counted over who you followed as of {at:%-d %b %Y}: X's count says that has changed since, and we're "
        "catching up. Everyone named above was checked this week."
    )


def _series(history: list[WeeklyReport], name: str) -> list[float | None]:
    values = []
    for r in history:
        value = r.metrics.get(name)
        values.append(None if value is None else float(value))
    return values


def _bar_height(value: float | None, top: float) -> int:
    if not value or top <= 0:
        return 0
    return max(2, round(CHART_HEIGHT_PX * min(value / top, 1.0)))


def _text_bar(value: float | None, top: float, width: int = 20) -> str:
    if not value or top <= 0:
        return ""
    return "█" * max(1, round(width * min(value / top, 1.0)))


def _charts(history: list[WeeklyReport], cfg: AnalysisConfig) -> list[Chart]:
    """Score, replies vs. broadcasts and answered mentions over the last weeks (this one last)."""
    labels = [week_label(r.week) for r in history]
    last = len(history) - 1
    charts = []

    scores = _series(history, "engagement_score")
    measured = [s for s in scores if s is not None]
    if measured:
        charts.append(
            Chart(
                title="Engagement score",
                summary=f"{number(scores[-1])} this week; between {number(min(measured))} and {number(max(measured))} "
                f"over {plural(len(history), 'week')}.",
                bars=[Bar(labels[i], number(s), _bar_height(s, 100), current=i == last) for i, s in enumerate(scores)],
                legend=[],
                text_rows=[f"{labels[i]:>4} {number(s):>4}  {_text_bar(s, 100)}" for i, s in enumerate(scores)],
            )
        )

    # shares, not counts: the first digest covers a month, later ones a week
    mixes: list[tuple[int, int] | None] = []
    for r in history:
        if r.metrics.get("posts") is None:
            mixes.append(None)
        else:
            talk = int(r.metrics.get("replies") or 0) + int(r.metrics.get("quotes") or 0)
            mixes.append((talk, int(r.metrics.get("broadcasts") or 0)))
    if any(mixes) and any(sum(mix) for mix in mixes if mix):
        bars, rows = [], []
        for i, mix in enumerate(mixes):
            share = mix[0] / sum(mix) if mix and sum(mix) else None
            talk_px = _bar_height(share, 1.0) if share else 0
            rest_px = CHART_HEIGHT_PX - talk_px if mix and sum(mix) else 0
            bars.append(Bar(labels[i], percent(share), talk_px, rest_px, current=i == last))
            text_talk = _text_bar(share, 1.0)
            counts = f"{mix[0]}/{mix[1]}" if mix else NOT_MEASURED
            rows.append(
                f"{labels[i]:>4} {percent(share):>4} {counts:>7}  "
                f"{text_talk}{'░' * ((20 - len(text_talk)) if share is not None else 0)}"
            )
        now = mixes[-1]
        summary = (
            "Not measured this week."
            if now is None
            else f"This week {plural(now[0], 'reply or quote', 'replies and quotes')} and "
            f"{plural(now[1], 'broadcast')}."
        )
        charts.append(
            Chart(
                title="Replies vs. broadcasts",
                summary=summary,
                bars=bars,
                legend=[("talk", "replies and quotes"), ("loud", "broadcasts")],
                text_rows=rows,
            )
        )

    rates = _series(history, "response_rate")
    if any(r is not None for r in rates):
        grace = duration(timedelta(hours=cfg.unanswered_grace_hours))
        charts.append(
            Chart(
                title=f"Mentions answered within {grace}",
                summary=(f"{percent(rates[-1])} this week." if rates[-1] is not None else "Not measured this week."),
                bars=[Bar(labels[i], percent(r), _bar_height(r, 1.0), current=i == last) for i, r in enumerate(rates)],
                legend=[],
                text_rows=[f"{labels[i]:>4} {percent(r):>4}  {_text_bar(r, 1.0)}" for i, r in enumerate(rates)],
            )
        )
    # issue 15: the follow-through rate, once two weeks have one (relationships: a line of numbers, digest.followup)
    follow_through = _series(history, "followup_rate")
    if sum(r is not None for r in follow_through) >= 2:
        charts.append(_weekly_chart("Suggested conversations you had", follow_through, labels, 1.0, percent))
    return charts


def _weekly_chart(
    title: str, values: list[float | None], labels: list[str], top: float, shown: Callable[[float | None], str]
) -> Chart:
    """One value a week, this week last."""
    last = len(values) - 1
    return Chart(
        title=title,
        summary=f"{shown(values[-1])} this week." if values[-1] is not None else "Not measured this week.",
        bars=[Bar(labels[i], shown(v), _bar_height(v, top), current=i == last) for i, v in enumerate(values)],
        legend=[],
        text_rows=[f"{labels[i]:>4} {shown(v):>4}  {_text_bar(v, top)}" for i, v in enumerate(values)],
    )


def _not_measured(report: WeeklyReport, skipped: list[str]) -> list[str]:
    lines: list[str] = []
    covered: set[str] = set()
    for reason in skipped:
        endpoint, _, why = reason.partition(":")
        what = READS.get(endpoint.strip())
        if what and why.strip():
            covered.add(READ_INPUTS.get(endpoint.strip(), endpoint.strip()))
            lines.append(f"{what[0].upper()}{what[1:]}: {why.strip()}.")
        else:
            lines.append(short(reason, 200))
    for name in report.unavailable:
        if name not in covered:
            words = UNAVAILABLE_WORDS.get(name, f"{name.replace('_', ' ')} could not be measured")
            lines.append(f"{words[0].upper()}{words[1:]}.")
    return lines


def chart_weeks(report: WeeklyReport, previous: list[WeeklyReport]) -> list[WeeklyReport]:
    """The weeks the trends span: the last earlier ones, then this one."""
    return [*[r for r in previous if r.week < report.week][-(TREND_WEEKS - 1) :], report]


def build_view(
    report: WeeklyReport,
    previous: list[WeeklyReport],
    skipped: list[str] | None = None,
    config: AnalysisConfig | None = None,
) -> DigestView:
    """Everything the digest shows, from this week's report, earlier ones (oldest first) and skipped reads."""
    cfg = config or AnalysisConfig()
    m = report.metrics
    score = m.get("engagement_score")
    change, direction = _change(report.deltas.get("engagement_score"))
    history = chart_weeks(report, previous)
    conversations = _conversations(report)
    posting, posting_warnings = _posting(m)
    named = [c.who for c in conversations if c.who.startswith("@")]
    if not conversations:
        preheader = "A quiet week: say hello to someone you follow."
    elif named:
        others = len(conversations) - 1
        also = f" and {plural(others, 'other')}" if others else ""
        preheader = f"Talk with {named[0]}{also} this week."
    else:
        preheader = f"{plural(len(conversations), 'conversation')} to have this week."
    if score is not None:
        preheader += f" Your score: {number(score)}."
    return DigestView(
        title=f"Your week on X, {handle(report.username, '')}" if report.username else "Your week on X",
        period=period(report.window_start, report.window_end),
        first_week=not previous,
        preheader=preheader,
        headline=Headline(score=number(score), change=change, direction=direction, nudge=_nudge(m, report, cfg)),
        conversations=conversations,
        more=_more(report),
        charts=_charts(history, cfg) if len(history) >= 2 else [],
        dms=_dms(report, skipped or []),
        posting=posting,
        posting_warnings=posting_warnings,
        challenge=_challenge(report),
        not_measured=_not_measured(report, skipped or []),
        insights=build_insights(report),
    )
