"""SpamAssassin's verdict on a whole MIME message (tests/test_digest_spam.py, tests/test_digest_preview.py).

Debian's ``spamassassin -L -t``: local tests only (no DNS, no network). Missing, the check is skipped;
with CI=true it fails instead (.ci/run installs it, as it installs chromium).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

SPAMASSASSIN = "/usr/bin/spamassassin"
MAX_SCORE = 1.0


def spamassassin_or_skip() -> str:
    found = SPAMASSASSIN if os.path.exists(SPAMASSASSIN) else shutil.which("spamassassin")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SPAMASSASSIN} is missing: .ci/run must install Debian's spamassassin")
        pytest.skip("spamassassin is not installed (apt-get install spamassassin)")
    return found


def spam_score(spamassassin: str, raw: bytes) -> tuple[float, str]:
    """SpamAssassin's score of a message and its report (the rules that fired)."""
    done = subprocess.run(  # noqa: S603 (a fixed binary, the message on stdin)
        [spamassassin, "-L", "-t"], input=raw, capture_output=True, timeout=120, check=False
    )
    out = done.stdout.decode(errors="replace")
    found = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", out, re.MULTILINE)
    assert found, f"no X-Spam-Status in spamassassin's output: {done.stderr.decode(errors='replace')[-500:]}"
    return float(found.group(1)), out[out.find("Content analysis details") :]
