"""Masking and fingerprinting of DM text.

Two DMs that differ only in URLs, @handles, names and numbers mask to the same
text, so their fingerprints match. Only the fingerprint and a few flags are
kept; the text itself is never stored or logged.
"""

from __future__ import annotations

import hashlib
import re
from typing import TypedDict

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w{1,15}")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_PUNCT = re.compile(r"[^\w\s<>]")
# A capitalized word not at the start of a sentence is most likely a name.
# (Written to start with the capital so the regex engine skips ahead to
# capitals; the lookbehinds then say: a word start, not after ". ", not at
# the very start.)
_NAME = re.compile(r"[A-Z](?<!\w[A-Z])(?<![.!?]\s[A-Z])(?<!^[A-Z])[a-z]+\b")

CALL_TO_ACTION = re.compile(
    r"\b(check out|click|subscribe|sign up|signup|join|download|buy|grab|get your|visit|follow me on|"
    r"like my|free (?:ebook|e-book|guide|trial)|my (?:website|blog|page|channel)|use code|discount|"
    r"dm me|book a call|register)\b",
    re.IGNORECASE,
)
# the same words matched on lower-cased text: several times faster than IGNORECASE
_CALL_TO_ACTION_LOWER = re.compile(CALL_TO_ACTION.pattern)


def mask(text: str) -> str:
    """Masked, lower-cased text; masking twice gives the same text as once."""
    # Each substitution is skipped when a cheap test shows it cannot match:
    # most DMs have no link, handle or capital past the first word.
    low = text.lower()
    out = _URL.sub(" <url> ", text) if "http" in low or "www." in low else text
    if "@" in out:
        out = _HANDLE.sub(" <handle> ", out)
    if not out.islower():
        out = _NAME.sub(" <name> ", out)
    out = _NUMBER.sub(" <num> ", out)
    out = _PUNCT.sub(" ", out.lower())
    return " ".join(out.split())


def fingerprint(text: str) -> str:
    """A short stable hash of the masked text."""
    return hashlib.sha256(mask(text).encode("utf-8")).hexdigest()[:16]


def has_link(text: str) -> bool:
    low = text.lower()
    return ("http" in low or "www." in low) and bool(_URL.search(text))


def has_call_to_action(text: str) -> bool:
    return bool(_CALL_TO_ACTION_LOWER.search(text.lower()))


class DmSignals(TypedDict):
    """What the automated-DM detector keeps of one DM text (the ``DmEvent`` fields)."""

    fingerprint: str | None
    has_link: bool
    has_call_to_action: bool
    word_count: int


def dm_signals(text: str) -> DmSignals:
    """The fingerprint and flags of a DM text, ready for ``DmEvent(**...)``; the text itself is not kept."""
    return {
        "fingerprint": fingerprint(text) if text else None,
        "has_link": has_link(text),
        "has_call_to_action": has_call_to_action(text),
        "word_count": len(text.split()),
    }
