"""The digest does not look like spam to SpamAssassin's local rules (issue 15).

Debian's ``spamassassin -L -t`` (local tests only: no DNS, no network) scores the whole MIME message,
built as the digest step builds it. Hidden preheader text (font-size 1px, the background's colour) scored
HTML_FONT_LOW_CONTRAST and FONT_INVIS_MSGID (invisible text next to an ordinary Message-ID): the preheader
is now the digest's first visible line instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from followthrough.digest import render_digest
from followthrough.email import build_message
from tests.support.digest import LINKS, SKIPPED, history, typical_report

SPAMASSASSIN = "/usr/bin/spamassassin"
MAX_SCORE = 1.0


@pytest.fixture(scope="module")
def spamassassin() -> str:
    if not os.path.exists(SPAMASSASSIN) and not shutil.which("spamassassin"):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SPAMASSASSIN} is missing: .ci/run must install Debian's spamassassin")
        pytest.skip("spamassassin is not installed (apt-get install spamassassin)")
    return SPAMASSASSIN if os.path.exists(SPAMASSASSIN) else str(shutil.which("spamassassin"))


def score(spamassassin: str, raw: bytes) -> tuple[float, str]:
    """SpamAssassin's score of a message and its report (the rules that fired)."""
    done = subprocess.run([spamassassin, "-L", "-t"], input=raw, capture_output=True, timeout=120, check=False)  # noqa: S603 (our fixed path)
    out = done.stdout.decode(errors="replace")
    found = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", out, re.MULTILINE)
    assert found, f"no X-Spam-Status in spamassassin's output: {done.stderr.decode(errors='replace')[-500:]}"
    return float(found.group(1)), out[out.find("Content analysis details") :]


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
    points, report = score(spamassassin, digest_message())
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
    points, report = score(spamassassin, hidden_raw)
    assert "FONT_INVIS_MSGID" in report and points > MAX_SCORE
