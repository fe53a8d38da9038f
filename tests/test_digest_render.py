"""digest rendering (no AWS): content and order, escaping, plain text, size limit, trend charts, inlined CSS.

The report builders are in tests/support/digest.py (the browser test uses them too).
"""

from __future__ import annotations

import re

from followthrough.digest import HTML_LIMIT_BYTES, build_view, subject_for
from followthrough.digest.view import CHART_HEIGHT_PX, DMS_SHOWN, NOT_MEASURED
from followthrough.subscriber import TURNED_OFF
from tests.support.digest import (
    EVIL,
    LINKS,
    SERIES,
    SKIPPED,
    history,
    hostile_report,
    parse,
    render,
    typical_report,
    worst_report,
)

# -- content and order ---------------------------------------------------------------------------------


def test_headline_then_the_five_conversations_then_the_rest() -> None:
    html, _ = render(typical_report())
    order = [
        "Engagement score",
        "5 conversations for this week",
        "Your last 8 weeks",
        "Direct messages",
        "How you posted",
        "The @reply challenge",
        "Not measured this week",
        "Unsubscribe",
    ]
    positions = [html.index(heading) for heading in order]
    assert positions == sorted(positions)
    hrefs = [attrs.get("href") for tag, attrs in parse(html).tags if tag == "a"]
    for url in (
        "https://x.com/ada_l/status/901",
        "https://x.com/i/status/902",
        "https://x.com/grace_h",
        "https://x.com/linus_t",
        "https://x.com/new_fan",
    ):
        assert url in hrefs
    # the unanswered mention is quoted, so they know what to answer
    assert "how did you get the onboarding emails" in html
    assert "9 points higher than last week" in html


def test_every_section_says_something_concrete() -> None:
    view = build_view(typical_report(), history()[:-1], SKIPPED)
    assert view.headline.score == "58" and view.headline.direction == "up"
    assert view.headline.nudge.startswith("Quickest way up:")
    assert [c.label for c in view.conversations] == ["Answer", "Answer", "Say hello", "Say hello", "Welcome"]
    # the people beyond the five: passive follows not already suggested, and unwelcomed followers
    assert [p.who for p in view.more.passive] == ["@quiet_3", "@quiet_4", "@quiet_5"]
    assert view.more.new_not_greeted == 3 and view.more.followers_url == "https://x.com/person1/followers"
    assert view.dms.received[0].url == "https://x.com/messages/1001-41"
    assert view.dms.received[0].why.startswith("same text as 3 other senders")
    assert "4 people" in view.dms.sent_warnings[0] and "X's rules" in view.dms.sent_warnings[0]
    assert any("17 replies and quotes to other people, 8 broadcasts" in line for line in view.posting)
    assert view.challenge is not None and view.challenge.percent == "38%"
    assert view.challenge.change == "up 16 points since 7 weeks ago"


def test_not_measured_lists_skipped_reads_once_with_what_else_is_missing() -> None:
    report = typical_report().model_copy(update={"unavailable": ["likes", "follow_times"]})
    view = build_view(report, [], SKIPPED)
    assert view.not_measured == [
        "Your likes: the weekly X budget of $1.50 was reached.",
        "When people followed you is not known, so new followers cannot be told apart.",
    ]


def test_dms_turned_off_in_the_settings_are_said_so_not_called_unreadable() -> None:
    report = typical_report()
    report = report.model_copy(
        update={"metrics": {**report.metrics, "auto_dms_received": None}, "unavailable": ["dm_events"]}
    )
    turned_off = [f"dm_events: {TURNED_OFF}"]
    html, text = render(report, skipped=turned_off)
    assert "You turned off reading your direct messages in your settings" in text
    assert "could not be read this week" not in text and "could not be read this week" not in html
    html, text = render(report, skipped=[])
    assert "Your direct messages could not be read this week." in text and "You turned off" not in text


def test_dms_read_in_part_are_said_so_not_called_unreadable() -> None:
    report = typical_report()
    report = report.model_copy(
        update={"metrics": {**report.metrics, "auto_dms_received": None}, "unavailable": ["dm_events"]}
    )
    in_part = ["dm_events: read in part, the weekly X budget of $1.50 was reached; the rest is read next week"]
    html, text = render(report, skipped=in_part)
    for shown in (text, html):
        assert "Only part of this week's direct messages could be read" in shown
        assert "could not be read this week" not in shown


def test_a_sending_warning_and_no_nudge_elsewhere_when_the_subscriber_auto_dms() -> None:
    report = typical_report()
    report = report.model_copy(update={"metrics": {**report.metrics, "auto_dms_sent": 1}})
    assert "stop the automated DMs" in build_view(report, [], []).headline.nudge


# -- escaping -------------------------------------------------------------------------------------------


def test_hostile_names_and_post_text_are_escaped_in_html() -> None:
    html, _ = render(hostile_report(), skipped=[f"tweets: {EVIL}"])
    doc = parse(html)
    assert "<script" not in html and "<img" not in html
    assert [tag for tag, _ in doc.tags if tag in ("script", "img", "svg", "iframe", "object")] == []
    assert all(not name.startswith("on") for _, attrs in doc.tags for name in attrs)
    assert html.count("&lt;script&gt;") >= 6  # title, names, mention text, reasons, DM sender, not measured
    # every link goes to X or to our own pages, never to a script
    for tag, attrs in doc.tags:
        if tag == "a":
            assert (attrs["href"] or "").startswith(("https://x.com/", "https://followthrough.example/"))
    assert 'href="https://x.com/ok"' in html  # the javascript: URL fell back to the profile


def test_plain_text_is_not_html_escaped_but_cannot_forge_lines_or_flip_text() -> None:
    report = typical_report()
    forged = "Tom & Jerry\n\nUnsubscribe: https://evil.example/\u202eexe.txt"
    report = report.model_copy(
        update={"unanswered_mentions": [report.unanswered_mentions[0].model_copy(update={"text": forged})]}
    )
    html, text = render(report)
    assert "Tom & Jerry" in text and "&amp;" not in text
    assert "\u202e" not in text and "\u202e" not in html
    line = next(line for line in text.splitlines() if "Tom & Jerry" in line)
    assert "Unsubscribe: https://evil.example/" in line  # flattened into the quote, not a line of its own
    assert not any(line.startswith("Unsubscribe: https://evil") for line in text.splitlines())
    assert "Tom &amp; Jerry" in html


def test_subject_is_one_short_line_whatever_the_name() -> None:
    report = typical_report()
    assert subject_for(report) == "Your week on X, @person1: 5 conversations to have"
    forged = subject_for(report.model_copy(update={"username": "x\r\nBcc: all@example.com" + "y" * 100}))
    assert "\n" not in forged and "\r" not in forged and len(forged) < 90
    assert subject_for(report.model_copy(update={"conversations": [], "username": None})) == (
        "Your week on X: a quiet week, time to say hello"
    )


# -- plain text -----------------------------------------------------------------------------------------


def test_text_part_carries_the_whole_digest() -> None:
    _, text = render(typical_report())
    for expected in (
        "ENGAGEMENT SCORE: 58 out of 100",
        "9 points higher than last week",
        "5 CONVERSATIONS FOR THIS WEEK",
        "1. Answer: @ada_l",
        "https://x.com/ada_l/status/901",
        '"@person1 how did you get the onboarding emails to feel so personal?"',
        "2. Answer: a mention",
        "5. Welcome: @new_fan",
        "YOUR LAST 8 WEEKS",
        "DIRECT MESSAGES",
        "@growth_bot, very likely automated",
        "! You sent the same message to 4 people",
        "HOW YOU POSTED",
        "THE @REPLY CHALLENGE",
        "You're at 114 of 300 (38%)",
        "NOT MEASURED THIS WEEK",
        "- Your likes: the weekly X budget of $1.50 was reached.",
        f"Unsubscribe: {LINKS.unsubscribe}",
        f"{LINKS.delete}",
    ):
        assert expected in text, expected
    assert "<" not in text.replace("<3", "")  # no markup leaked into the text part


# -- size -----------------------------------------------------------------------------------------------


def test_worst_case_report_stays_under_the_size_limit() -> None:
    html, text = render(
        worst_report(),
        skipped=[
            f"{e}: the weekly X budget of $1.50 was reached"
            for e in ("tweets", "mentions", "liked_tweets", "following", "followers", "dm_events")
        ]
        * 5,
    )
    assert len(html.encode()) <= HTML_LIMIT_BYTES, len(html.encode())
    assert len(text.encode()) <= HTML_LIMIT_BYTES
    view = build_view(worst_report(), history()[:-1], [])
    assert len(view.conversations) == 5 and len(view.dms.received) == DMS_SHOWN
    assert view.dms.more_received == 100 - DMS_SHOWN
    assert f"…and {100 - DMS_SHOWN} more." in html


# -- trends -----------------------------------------------------------------------------------------------


def test_trend_charts_show_the_last_eight_weeks_to_scale() -> None:
    reports = history(9)
    report, previous = reports[-1], reports[:-1]
    view = build_view(report, previous, [])
    assert [c.title for c in view.charts] == [
        "Engagement score",
        "Replies vs. broadcasts",
        "Mentions answered within 2 days",
    ]
    shown = reports[-8:]
    expected_labels = [r.week.split("-")[1] for r in shown]
    score, mix, answered = view.charts
    for chart in view.charts:
        assert [b.label for b in chart.bars] == expected_labels
        assert [b.current for b in chart.bars] == [False] * 7 + [True]
        assert len(chart.text_rows) == 8
    assert [b.height for b in score.bars] == [round(CHART_HEIGHT_PX * s / 100) for s, *_ in SERIES[-8:]]
    assert [b.value for b in score.bars] == [str(s) for s, *_ in SERIES[-8:]]
    assert [b.height for b in answered.bars] == [round(CHART_HEIGHT_PX * rr) for *_, rr, _ in SERIES[-8:]]
    for bar, (_, replies, broadcasts, *_) in zip(mix.bars, SERIES[-8:], strict=True):
        share = (replies + 1) / (replies + 1 + broadcasts)
        assert bar.height == round(CHART_HEIGHT_PX * share) and bar.height + bar.rest == CHART_HEIGHT_PX
        assert bar.value == f"{round(share * 100)}%"

    html, text = render(report, previous)
    for bar in score.bars:  # each bar is a table cell of that height (no SVG, no images)
        assert f'height="{bar.height}"' in html
    assert "<svg" not in html and "<img" not in html and "<canvas" not in html
    assert all(label in html for label in expected_labels)
    assert "W48   58  " in text and expected_labels[0] in text


def test_the_first_digest_promises_trends_instead_of_drawing_one_bar() -> None:
    report = typical_report(previous=[]).model_copy(update={"deltas": {}})
    view = build_view(report, [], [])
    assert view.charts == [] and view.first_week and view.headline.direction == "new"
    html, text = render(report, previous=[])
    assert "From next week" in html and "From next week" in text
    assert "We'll compare from next week." in html


def test_weeks_without_data_leave_a_gap_not_a_zero() -> None:
    reports = history(4)
    gap = reports[1].model_copy(update={"metrics": {**reports[1].metrics, "response_rate": None, "posts": None}})
    view = build_view(reports[-1], [reports[0], gap, reports[2]], [])
    _, mix, answered = view.charts
    assert answered.bars[1].value == NOT_MEASURED and answered.bars[1].height == 0
    assert mix.bars[1].value == NOT_MEASURED and mix.bars[1].height == mix.bars[1].rest == 0


# -- email-safe HTML --------------------------------------------------------------------------------------


def test_css_is_inlined_and_the_layout_needs_no_style_element() -> None:
    html, _ = render(typical_report())
    doc = parse(html)
    assert "<style" not in html and "<link" not in html and "<script" not in html
    card = next(attrs for tag, attrs in doc.tags if tag == "table" and "card" in (attrs.get("class") or ""))
    style = card.get("style") or ""
    assert "max-width: 600px" in style and "width: 100%" in style
    # every table cell and paragraph that the stylesheet touched carries its style inline
    styled = [attrs for tag, attrs in doc.tags if tag in ("td", "p", "h1", "h2") and attrs.get("class")]
    assert styled and all(attrs.get("style") for attrs in styled)
    assert re.search(r'<meta name="viewport" content="width=device-width, initial-scale=1"', html)
    assert "<!--[if mso]>" in html  # Outlook gets a fixed 600 px table instead of max-width
