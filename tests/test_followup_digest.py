"""Issue 15 in the digest: last week's five followed up, relationships, follow-for-follow followers; a stored
version-1 report still reads, follows up and renders."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from followthrough.activity import Activity, Post
from followthrough.analysis.followup import follow_up
from followthrough.digest import HTML_LIMIT_BYTES, render_digest
from followthrough.report import (
    SCHEMA_VERSION,
    Challenge,
    Conversation,
    WeeklyReport,
)
from tests.support.digest import LINKS, history, parse, render, typical_report, with_follow_up, worst_report


def test_the_digest_opens_with_last_weeks_five_in_html_and_text() -> None:
    html, text = render(with_follow_up(typical_report()))
    visible = " ".join(" ".join(parse(html).text).split())
    for part in (visible, " ".join(text.split())):
        assert "You had 2 of last week's 3 conversations. Of the 1 still open from before, you had 0." in part
        assert "Still open: @ana's question from Tuesday" in part
        assert "Let go after two digests: welcoming @dee." in part
        assert "3 digests in a row with a conversation followed through." in part
        assert "Likely follow-for-follow: @f4f_guy" in part
        assert "with 4 people this week, 1 more than last week" in part
        assert "New this month: @eve" in part
        assert "2 of the people you follow became relationships" in part
    # it opens with it: before the score and the new conversations
    assert text.index("You had 2 of") < text.index("ENGAGEMENT SCORE") < text.index("CONVERSATIONS FOR THIS WEEK")


def test_the_first_digest_says_nothing_about_it() -> None:
    html, text = render(typical_report(previous=[]), previous=[])
    assert "You had" not in text and "Still open" not in text and "You had" not in html


def test_html_stays_under_the_limit_with_everything_at_its_longest() -> None:
    html, text = render(with_follow_up(worst_report(), name="n" * 200))
    assert len(html.encode()) <= HTML_LIMIT_BYTES, len(html.encode())
    assert len(text.encode()) <= HTML_LIMIT_BYTES


def version_1(report: WeeklyReport) -> dict[str, Any]:
    """``report`` as version 1 stored it: none of the fields version 2 added."""
    data = report.model_dump(mode="json")
    data["schema_version"] = 1
    for name in ("follow_up", "relationships", "follow_for_follow"):
        data.pop(name)
    data["challenge"].pop("relationships")
    for conversation in data["conversations"]:
        conversation.pop("post_id")
        conversation.pop("about_at")
    return data


def test_a_stored_version_1_report_reads_renders_and_is_followed_up() -> None:
    assert SCHEMA_VERSION == 2
    stored = WeeklyReport.model_validate(version_1(typical_report()))
    assert (
        stored.schema_version == 1
        and stored.follow_up is None
        and stored.challenge == Challenge(**{**stored.challenge.model_dump(), "relationships": None})
    )
    html, text = render(stored)
    assert "conversations for this week" in html.lower() and "Still open" not in text
    # next week's report follows up the old one: its mention is known by the URL only
    mention = next(c for c in stored.conversations if c.kind == "answer_mention")
    assert isinstance(mention, Conversation) and mention.post_id is None
    me = "1"
    reply = Post(
        id="990",
        author_id=me,
        created_at=stored.generated_at + timedelta(hours=3),
        kind="reply",
        in_reply_to_user_id="someone else",
        replied_to_id=mention.url.rsplit("/", 1)[1],
    )
    activity = Activity(
        subscriber={"id": me, "username": "person1"},
        collected_at=stored.generated_at + timedelta(days=7),
        window_start=stored.generated_at,
        posts=[reply],
    )
    found = follow_up(activity, [stored], {stored.week})
    assert found is not None and found.base_week == stored.week
    answered = next(i for i in found.items if i.user_id == mention.user_id and i.kind == "answer_mention")
    assert answered.state == "done" and answered.done_by == "reply" and answered.done_at == reply.created_at
    assert answered.question  # "how did you get the onboarding emails to feel so personal?"
    assert {i.state for i in found.items if i is not answered} <= {"open", "done"}
    assert len(history()) > 1  # the renders above drew their trends from the sample history


def test_follow_for_follow_goes_with_the_more_people_section_when_it_is_hidden() -> None:
    report = with_follow_up(typical_report())
    shown = render_digest(report, history()[:-1], LINKS)
    hidden = render_digest(report, history()[:-1], LINKS, hidden_sections={"more_people"})
    assert "follow-for-follow" in shown.text and "follow-for-follow" in shown.html
    assert "follow-for-follow" not in hidden.text and "follow-for-follow" not in hidden.html
    assert "Still open" in hidden.text  # the follow-up is not part of that section
