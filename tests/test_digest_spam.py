"""The digest does not look like spam to SpamAssassin's local rules (issue 15).

Debian's ``spamassassin -L -t`` (local tests only: no DNS, no network) scores the whole MIME message,
built as the digest step builds it. Hidden preheader text (font-size 1px, the background's colour) scored
HTML_FONT_LOW_CONTRAST and FONT_INVIS_MSGID (invisible text next to an ordinary Message-ID): the preheader
is now the digest's first visible line instead.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from followthrough.digest import render_digest
from followthrough.email import build_message
from tests.support.digest import LINKS, SKIPPED, history, typical_report
from tests.support.spam import MAX_SCORE, spam_score, spamassassin_or_skip

pytestmark = pytest.mark.spam


@pytest.fixture(scope="module")
def spamassassin() -> str:
    return spamassassin_or_skip()


def digest_message() -> bytes:
    """The typical digest, as DigestSender mails it (the same headers)."""
    rendered = render_digest(typical_report(), history()[:-1], LINKS, unavailable_reasons=SKIPPED)
    return build_message(
        sender="Followthrough <digest@followthrough.example>",
        recipient="person1@example.org",
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        now=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        headers={
            "List-Unsubscribe": f"<{LINKS.unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def test_the_digest_scores_at_most_one_point(spamassassin: str) -> None:
    points, report = spam_score(spamassassin, digest_message())
    assert points <= MAX_SCORE, report
    for rule in ("HTML_FONT_LOW_CONTRAST", "FONT_INVIS_MSGID"):
        assert rule not in report


def test_hidden_text_is_what_scored(spamassassin: str) -> None:
    """The check can fail: the old hidden preheader, put back, fires the rules it fired."""
    raw = digest_message().decode()
    hidden = (
        '<body><div style="display:none;max-height:0;overflow:hidden;font-size:1px;line-height:1px;'
        'color:#f4f1ea;opacity:0">Talk with @ada_l and 4 others this week.</div>'
    )
    hidden_raw = re.sub(r"<body[^>]*>", hidden, raw, count=1).encode()
    points, report = spam_score(spamassassin, hidden_raw)
    assert "FONT_INVIS_MSGID" in report and points > MAX_SCORE
