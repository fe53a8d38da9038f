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


def test_preview_command_line() -> None:
    args = build_parser().parse_args(["preview", "--out", "somewhere", "--weeks", "3"])
    assert args.command == "preview" and args.weeks == 3 and str(args.out) == "somewhere"
    with pytest.raises(SystemExit):
        main(["preview", "--weeks", "0"])
