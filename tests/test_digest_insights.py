"""The digest's "More to talk about": chats worth joining, mentions without the @, quiet followees (issue 15),
in the HTML and the plain text alike; older stored reports, which have none of these, render without it."""

from __future__ import annotations

from followthrough.digest import build_view
from followthrough.report import WeeklyReport
from tests.support.digest import EVIL, insights, parse, render, typical_report

SECTION = "More to talk about"


def _visible(html: str) -> str:
    return " ".join(" ".join(parse(html).text).split())


def test_the_section_says_the_same_in_html_and_text() -> None:
    html, text = render(typical_report())
    shown, plain = _visible(html), " ".join(text.split())
    chat = "#BufferChat looks like a weekly chat, Tuesdays around 21:00 your time; 4 people you follow take part"
    untagged = "Has anyone tried the pricing teardown person1 shared?"
    quiet = "1 account you follow has not posted for three months or more"
    for words in (SECTION.upper(), chat, untagged, quiet, "@gone0 (last post 13 months ago)"):
        assert words in plain, words
    for words in (SECTION, chat, untagged, quiet, "@gone0 (last post 13 months ago)"):
        assert words in shown, words
    links = {a.get("href") for tag, a in parse(html).tags if tag == "a"}
    assert {"https://x.com/hashtag/BufferChat", "https://x.com/i/status/5000", "https://x.com/gone0"} <= links


def test_taking_part_already_is_said() -> None:
    report = typical_report().model_copy(update=insights(2))
    view = build_view(report, [])
    assert view.insights is not None
    assert [c.takes_part for c in view.insights.chats] == ["", "You already take part."]


def test_an_older_report_without_these_fields_renders_without_the_section() -> None:
    stored = typical_report().model_dump(mode="json")
    for name in ("chats_to_join", "untagged_mentions", "dormant_followees", "dormant_followee_count"):
        del stored[name]
    html, text = render(WeeklyReport.model_validate(stored))
    assert SECTION not in html and SECTION.upper() not in text
    assert "without the @" not in text  # the search was not asked for: nothing is said about it


def test_a_search_that_found_nothing_says_so() -> None:
    report = typical_report().model_copy(update={"untagged_mentions": [], "chats_to_join": [], "dormant_followees": []})
    _, text = render(report)
    assert "Nobody talked about you without the @ this week." in text


def test_hostile_posts_and_tags_are_escaped() -> None:
    report = typical_report().model_copy(update=insights(1, name=EVIL, text=EVIL))
    html, text = render(report)
    assert "<script>" not in html and "<img" not in html
    assert EVIL in text  # plain text is not HTML: shown as written


def test_a_search_the_budget_left_out_is_said_once_in_the_readers_words() -> None:
    report = typical_report().model_copy(update={"untagged_mentions": None, "unavailable": ["search_recent"]})
    _, text = render(report, skipped=["search_recent: the weekly X budget left too little for the search"])
    said = "The search for posts naming you without the @: the weekly X budget left too little for the search."
    assert said in " ".join(text.split()) and text.count("without the @") == 1
