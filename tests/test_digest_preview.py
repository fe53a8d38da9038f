"""``followthrough preview``: the demo subscriber's digest, written as .html, .txt and the full .eml."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from followthrough.digest import HTML_LIMIT_BYTES
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.cli import build_parser, main
from followthrough_devkit.preview import preview
from tests.support.spam import MAX_SCORE, spam_score, spamassassin_or_skip


def test_preview_writes_the_message_as_it_was_sent(aws: LocalAws, tmp_path: Path) -> None:
    week, written = preview(tmp_path, weeks=2, aws=aws)
    assert written == tmp_path
    raw = (tmp_path / "digest.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = (tmp_path / "digest.html").read_text()
    text = (tmp_path / "digest.txt").read_text()
    assert html == message.get_body(preferencelist=("html",)).get_content()
    assert text == message.get_body(preferencelist=("plain",)).get_content()
    assert len(html.encode()) <= HTML_LIMIT_BYTES
    # two weeks: the second digest already draws its trend next to the first week
    assert "Your last 2 weeks" in html and "YOUR LAST 2 WEEKS" in text
    assert week.split("-")[1] in text


@pytest.mark.spam
def test_preview_over_several_weeks_follows_up_and_is_not_spam(aws: LocalAws, tmp_path: Path) -> None:
    """Issue 15: the demo subscriber took up some of each digest's conversations, so the follow-up opens the
    digest and its trend is drawn; SpamAssassin scores the message at most 1 point."""
    preview(tmp_path, weeks=4, aws=aws)
    raw = (tmp_path / "digest.eml").read_bytes()
    html = (tmp_path / "digest.html").read_text()
    text = (tmp_path / "digest.txt").read_text()
    assert "of last week's 5 conversations" in text and "5 conversations." in html
    assert "Suggested conversations you had" in text and "RELATIONSHIPS" in text
    assert len(html.encode()) <= HTML_LIMIT_BYTES
    points, report = spam_score(spamassassin_or_skip(), raw)
    assert points <= MAX_SCORE, report


def test_preview_command_line() -> None:
    args = build_parser().parse_args(["preview", "--out", "somewhere", "--weeks", "3"])
    assert args.command == "preview" and args.weeks == 3 and str(args.out) == "somewhere"
    with pytest.raises(SystemExit):
        main(["preview", "--weeks", "0"])
