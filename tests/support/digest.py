"""Report builders and a digest renderer shared by the digest tests (tests/test_digest_*.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from followthrough.digest import DigestLinks, render_digest
from followthrough.report import (
    AutoDmReceived,
    AutoDms,
    AutoDmSent,
    Challenge,
    ChatToJoin,
    Conversation,
    DormantFollowee,
    FollowForFollow,
    FollowUp,
    FollowUpItem,
    HashtagChat,
    PassiveFollow,
    Relationship,
    UnansweredMention,
    UntaggedMention,
    WeeklyReport,
)

LINKS = DigestLinks(
    unsubscribe="https://followthrough.example/unsubscribe?token=u.1",
    delete="https://followthrough.example/delete?token=d.1",
)
END = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SKIPPED = ["liked_tweets: the weekly X budget of $1.50 was reached"]


def weekly(
    n: int, *, score: int, replies: int, broadcasts: int, response: float, share: float, **fields: Any
) -> WeeklyReport:
    """Week ``n`` weeks before 2026-W48 (0 = that week), with the metrics the charts read."""
    end = END - timedelta(weeks=n)
    year, number, _ = end.isocalendar()
    metrics: dict[str, float | int | None] = {
        "engagement_score": score,
        "response_rate": response,
        "replies": replies,
        "quotes": 1,
        "broadcasts": broadcasts,
        "posts": replies + 1 + broadcasts,
        "posts_per_day": round((replies + 1 + broadcasts) / 7, 2),
        "conversation_share": round((replies + 1) / (replies + 1 + broadcasts), 4),
        "challenge_share": share,
        "passive_follows": 120,
        "followees": 300,
        "new_followers": 6,
        "new_followers_not_greeted": 4,
        "auto_dms_received": 1,
        "auto_dms_sent": 0,
        "bursts": 0,
        "heavy_days": 0,
        "twittiarrhea": 0,
        "links_shared": 4,
        "own_links": 1,
        "self_promotion_share": 0.25,
        "median_response_hours": 5.5,
        "hashtag_chats": 1,
    }
    metrics.update(fields.pop("metrics", {}))
    values: dict[str, Any] = {
        "subscriber_id": "sub-1",
        "username": "person1",
        "week": f"{year}-W{number:02d}",
        "generated_at": end,
        "window_start": end - timedelta(days=7),
        "window_end": end,
        "metrics": metrics,
        "challenge": Challenge(followees=300, interacted=round(300 * share), share=share, window_days=90),
    }
    values.update(fields)
    return WeeklyReport(**values)


SERIES = [  # oldest first: (score, replies, broadcasts, response rate, challenge share)
    (22, 3, 20, 0.10, 0.20),
    (30, 6, 18, 0.20, 0.22),
    (35, 8, 15, 0.30, 0.25),
    (41, 10, 12, 0.35, 0.27),
    (38, 9, 14, 0.30, 0.28),
    (47, 12, 10, 0.45, 0.30),
    (52, 14, 9, 0.50, 0.33),
    (49, 13, 11, 0.55, 0.35),
    (58, 16, 8, 0.60, 0.38),
]


def history(weeks: int = 9) -> list[WeeklyReport]:
    """``weeks`` consecutive reports, oldest first, the last one 2026-W48."""
    rows = SERIES[-weeks:]
    return [
        weekly(len(rows) - 1 - i, score=s, replies=r, broadcasts=b, response=rr, share=sh)
        for i, (s, r, b, rr, sh) in enumerate(rows)
    ]


def typical_report(previous: list[WeeklyReport] | None = None) -> WeeklyReport:
    """This week's report: conversations of every kind, automated DMs both ways, deltas and a trend."""
    earlier = previous if previous is not None else history()[:-1]
    base = history()[-1]
    mentions = [
        UnansweredMention(
            tweet_id="901",
            author_id="11",
            author_username="ada_l",
            created_at=END - timedelta(days=2),
            text="@person1 how did you get the onboarding emails to feel so personal?",
            url="https://x.com/ada_l/status/901",
        ),
        UnansweredMention(
            tweet_id="902",
            author_id="12",
            author_username=None,
            created_at=END - timedelta(days=3),
            text="Loved the thread on pricing pages @person1",
            url="https://x.com/i/status/902",
        ),
    ]
    return base.model_copy(
        update={
            "unanswered_mentions": mentions,
            "conversations": [
                Conversation(
                    kind="answer_mention",
                    user_id="11",
                    username="ada_l",
                    url="https://x.com/ada_l/status/901",
                    reason="@ada_l mentioned you 2 days ago and is still waiting for an answer.",
                ),
                Conversation(
                    kind="answer_mention",
                    user_id="12",
                    username=None,
                    url="https://x.com/i/status/902",
                    reason="Someone mentioned you 3 days ago and is still waiting for an answer.",
                ),
                Conversation(
                    kind="greet_followee",
                    user_id="21",
                    username="grace_h",
                    url="https://x.com/grace_h",
                    reason="You've followed @grace_h for 2 years, and they follow you back, but you haven't "
                    "talked in a while. Reply to their next post or say hi.",
                ),
                Conversation(
                    kind="greet_followee",
                    user_id="22",
                    username="linus_t",
                    url="https://x.com/linus_t",
                    reason="You follow @linus_t, and they mentioned you recently, but you haven't talked in "
                    "a while. Reply to their next post or say hi.",
                ),
                Conversation(
                    kind="welcome_follower",
                    user_id="31",
                    username="new_fan",
                    url="https://x.com/new_fan",
                    reason="@new_fan started following you (3 days ago). A quick hello goes a long way.",
                ),
            ],
            "passive_follows": [
                PassiveFollow(user_id=str(20 + i), username=f"quiet_{i}", reasons=["never talked"]) for i in range(1, 8)
            ],
            "auto_dms": AutoDms(
                received=[
                    AutoDmReceived(
                        sender_id="41",
                        sender_username="growth_bot",
                        event_id="e1",
                        conversation_id="1001-41",
                        confidence=0.95,
                        reasons=[
                            "first message of a new conversation",
                            "contains a link",
                            'contains a call to action ("check out", "subscribe", ...)',
                            "same text as 3 other senders once names and links are masked",
                        ],
                    )
                ],
                sent=[
                    AutoDmSent(
                        fingerprint="f1",
                        recipient_ids=["51", "52", "53", "54"],
                        count=4,
                        reasons=["you sent the same message to 4 people once names and links are masked"],
                    )
                ],
            ),
            "deltas": {"engagement_score": 9.0},
            "challenge": base.challenge.model_copy(
                update={"trend": [r.challenge.share for r in earlier[-7:]] + [base.challenge.share]}
            ),
            "hashtag_chats": [
                HashtagChat(hashtag="#buildinpublic", started_at=END - timedelta(days=4), posts=4, participants=6)
            ],
            **insights(),
        }
    )


def insights(n: int = 1, name: str = "", text: str = "") -> dict[str, Any]:
    """The report's issue-15 fields: ``n`` of each (a chat, an untagged mention, a quiet followee)."""
    return {
        "chats_to_join": [
            ChatToJoin(
                hashtag=f"BufferChat{name}",
                weekday=1,
                hour=21,
                weeks=6,
                authors=6,
                followees=4,
                followee_usernames=[f"chat{name}{i}" for i in range(5)],
                takes_part=i == 1,
            )
            for i in range(n)
        ],
        "untagged_mentions": [
            UntaggedMention(
                tweet_id=str(5000 + i),
                author_id=str(6000 + i),
                author_username=f"fan{name}{i}",
                created_at=END - timedelta(days=1),
                text=text or "Has anyone tried the pricing teardown person1 shared?",
                is_question=True,
            )
            for i in range(n)
        ],
        "dormant_followees": [
            DormantFollowee(user_id=str(7000 + i), username=f"gone{name}{i}", last_post_at=END - timedelta(days=400))
            for i in range(n)
        ],
        "dormant_followee_count": n,
    }


def worst_report() -> WeeklyReport:
    """The most a stored report can hold (100 of every list), with very long, unbroken names and texts."""
    long_name = "n" * 200
    long_text = ("averyveryverylongwordwithoutanyspaces" * 12) + " " + "ok " * 200
    report = typical_report()
    return report.model_copy(
        update={
            "username": long_name,
            "passive_follows": [
                PassiveFollow(user_id=str(1000 + i), username=f"{long_name}{i}", reasons=[long_text])
                for i in range(100)
            ],
            "unanswered_mentions": [
                UnansweredMention(
                    tweet_id=str(2000 + i),
                    author_id=str(3000 + i),
                    author_username=f"{long_name}{i}",
                    text=long_text,
                    url=f"https://x.com/i/status/{2000 + i}",
                )
                for i in range(100)
            ],
            "conversations": [
                Conversation(
                    kind="answer_mention",
                    user_id=str(3000 + i),
                    username=f"{long_name}{i}",
                    url=f"https://x.com/i/status/{2000 + i}",
                    reason=long_text,
                )
                for i in range(5)
            ],
            "auto_dms": AutoDms(
                received=[
                    AutoDmReceived(
                        sender_id=str(4000 + i),
                        sender_username=f"{long_name}{i}",
                        event_id=str(i),
                        conversation_id=f"1001-{4000 + i}",
                        confidence=0.7,
                        reasons=[long_text] * 6,
                    )
                    for i in range(100)
                ],
                sent=[
                    AutoDmSent(
                        fingerprint=f"f{i}", recipient_ids=[str(j) for j in range(100)], count=100, reasons=[long_text]
                    )
                    for i in range(100)
                ],
            ),
            "hashtag_chats": [HashtagChat(hashtag="#" + long_name, started_at=END, posts=9, participants=9)] * 100,
            **insights(100, long_name, long_text),
            "unavailable": [
                "posts",
                "mentions",
                "likes",
                "like_authors",
                "dm_events",
                "following",
                "followers",
                "follow_times",
            ],
            "metrics": {
                **report.metrics,
                "bursts": 12,
                "heavy_days": 3,
                "twittiarrhea": 1,
                "auto_dms_sent": 100,
                "auto_dms_received": 100,
                "links_shared": 40,
                "own_links": 39,
                "passive_follows": 4000,
            },
        }
    )


def render(
    report: WeeklyReport, previous: list[WeeklyReport] | None = None, skipped: list[str] | None = None
) -> tuple[str, str]:
    rendered = render_digest(
        report,
        history()[:-1] if previous is None else previous,
        LINKS,
        unavailable_reasons=SKIPPED if skipped is None else skipped,
    )
    return rendered.html, rendered.text


class _Collect(HTMLParser):
    """Tags, attributes and visible text of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Collect:
    parser = _Collect()
    parser.feed(html)
    return parser


def hostile_report() -> WeeklyReport:
    report = typical_report()
    return report.model_copy(
        update={
            "username": EVIL,
            "passive_follows": [PassiveFollow(user_id="77", username=EVIL, reasons=[EVIL])],
            "unanswered_mentions": [
                UnansweredMention(
                    tweet_id="1", author_id="9", author_username=EVIL, text=EVIL, url="https://x.com/i/status/1"
                )
            ],
            "conversations": [
                Conversation(
                    kind="answer_mention", user_id="9", username=EVIL, url="https://x.com/i/status/1", reason=EVIL
                ),
                Conversation(
                    kind="greet_followee",
                    user_id="8",
                    username="ok",
                    url='javascript:alert(1)//"',
                    reason="Tom & Jerry <3",
                ),
            ],
            "auto_dms": AutoDms(
                received=[
                    AutoDmReceived(
                        sender_id="88",
                        sender_username=EVIL,
                        event_id="5",
                        conversation_id='"><script>x</script>',
                        confidence=0.9,
                        reasons=[EVIL],
                    )
                ]
            ),
            "unavailable": [EVIL],
        }
    )


def with_follow_up(report: WeeklyReport, *, name: str = "ana") -> WeeklyReport:
    """``report`` with issue 15's parts: last week's conversations followed up (every state), relationships,
    a follow-for-follow follower."""
    items = [
        FollowUpItem(
            kind="answer_mention",
            user_id="11",
            username=name,
            url=f"https://x.com/{name}/status/901",
            post_id="901",
            about_at=END - timedelta(days=6),  # a Tuesday
            question=True,
            suggested_week="2026-W47",
            state="open",
        ),
        FollowUpItem(kind="greet_followee", user_id="12", username="bob", suggested_week="2026-W47", state="done"),
        FollowUpItem(kind="welcome_follower", user_id="13", username="cy", suggested_week="2026-W47", state="done"),
        FollowUpItem(
            kind="welcome_follower",
            user_id="14",
            username="dee",
            suggested_week="2026-W46",
            carried=True,
            state="expired",
        ),
    ]
    metrics = {**report.metrics, "relationships": 4, "followee_relationships": 2, "new_relationships": 1}
    metrics |= {"followup_rate": 0.5, "followup_streak": 3, "follow_for_follow_followers": 1}
    return report.model_copy(
        update={
            "follow_up": FollowUp(base_week="2026-W47", items=items),
            "relationships": [
                Relationship(user_id="21", username="eve", to_them=3, from_them=2, followee=True, new=True),
                Relationship(user_id="22", username="fay", to_them=2, from_them=2),
            ],
            "follow_for_follow": [
                FollowForFollow(user_id="31", username="f4f_guy", following_count=6000, followers_count=300)
            ],
            "challenge": report.challenge.model_copy(update={"relationships": 2}),
            "metrics": metrics,
            "deltas": {**report.deltas, "relationships": 1.0},
        }
    )
