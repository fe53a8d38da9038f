"""The digest's words for issue 15's insights: chats worth joining, mentions without the @, followees with
nothing to talk about. Built here once for the HTML and the text part, as the rest of the view is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from followthrough.analysis.wording import duration, plural
from followthrough.digest.words import QUOTE_CHARS, handle, profile_url, short
from followthrough.report import ChatToJoin, WeeklyReport
from followthrough.subscriber import WEEKDAYS

CHATS_SHOWN = 2
UNTAGGED_SHOWN = 5
QUIET_SHOWN = 5


@dataclass(frozen=True)
class Link:
    text: str
    url: str
    note: str = ""  # said after the link: "last post 8 months ago"


@dataclass(frozen=True)
class ChatItem:
    tag: str  # "#BufferChat"
    url: str
    sentence: str  # "looks like a weekly chat, Tuesdays around 21:00 your time; 4 people you follow take part"
    people: list[Link]
    takes_part: str  # "You already take part." or ""


@dataclass(frozen=True)
class UntaggedItem:
    who: str
    url: str
    quote: str
    label: str  # "Asks" / "Mentions you"


@dataclass(frozen=True)
class Insights:
    chats: list[ChatItem] = field(default_factory=list)
    # None: the subscriber has not turned the search on (nothing is said); []: searched, nothing found
    untagged: list[UntaggedItem] | None = None
    quiet: list[Link] = field(default_factory=list)
    quiet_count: int = 0
    quiet_sentence: str = ""
    following_url: str = "https://x.com/"

    @property
    def shown(self) -> bool:
        return bool(self.chats or self.untagged is not None or self.quiet)


def _chat(chat: ChatToJoin) -> ChatItem:
    when = f"{WEEKDAYS[chat.weekday]}s around {chat.hour:02d}:00 your time"
    people = plural(chat.followees, "person", "people")
    return ChatItem(
        tag=f"#{short(chat.hashtag, 40)}",
        url=f"https://x.com/hashtag/{quote(chat.hashtag, safe='')}",
        sentence=f"looks like a weekly chat, {when}; {people} you follow take{'s' if chat.followees == 1 else ''} part",
        people=[Link(f"@{u}", profile_url("", u)) for u in chat.followee_usernames[:3]],
        takes_part="You already take part." if chat.takes_part else "",
    )


def build_insights(report: WeeklyReport, now: datetime | None = None) -> Insights:
    """What the digest says about this week's chats, untagged mentions and quiet followees (older reports
    have none of these: nothing is said)."""
    end = now or report.window_end or report.generated_at
    untagged = None
    if report.untagged_mentions is not None:
        untagged = [
            UntaggedItem(
                who=handle(m.author_username, "Someone outside your follows"),
                url=f"https://x.com/i/status/{quote(m.tweet_id, safe='')}",
                quote=short(m.text, QUOTE_CHARS),
                label="Asks" if m.is_question else "Mentions you",
            )
            for m in report.untagged_mentions[:UNTAGGED_SHOWN]
        ]
    dormant = report.dormant_followees or []
    quiet = [
        Link(
            handle(d.username, "an account you follow"),
            profile_url(d.user_id, d.username),
            f"last post {duration(end - d.last_post_at)} ago",
        )
        for d in dormant[:QUIET_SHOWN]
    ]
    count = report.dormant_followee_count or len(dormant)
    sentence = ""
    if count:
        sentence = (
            f"{plural(count, 'account')} you follow {'has' if count == 1 else 'have'} not posted for three months "
            "or more, so there is nothing to reply to: candidates to unfollow. The longest quiet:"
        )
    me = quote(report.username, safe="") if report.username else ""
    return Insights(
        chats=[_chat(c) for c in (report.chats_to_join or [])[:CHATS_SHOWN]],
        untagged=untagged,
        quiet=quiet,
        quiet_count=count,
        quiet_sentence=sentence,
        following_url=f"https://x.com/{me}/following" if me else "https://x.com/",
    )
