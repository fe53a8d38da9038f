"""Masking and fingerprinting of DM text.

Two DMs that differ only in URLs, @handles, names and numbers mask to the same
text, so their fingerprints match. Only the fingerprint and a few flags are
kept; the text itself is never stored or logged.
"""

from __future__ import annotations

import hashlib
import re

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w{1,15}")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s<>]")
# A capitalized word not at the start of a sentence is most likely a name.
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+\b")

CALL_TO_ACTION = re.compile(
    r"\b(check out|click|subscribe|sign up|signup|join|download|buy|grab|get your|visit|follow me on|"
    r"like my|free (?:ebook|e-book|guide|trial)|my (?:website|blog|page|channel)|use code|discount|"
    r"dm me|book a call|register)\b",
    re.IGNORECASE,
)


def mask(text: str) -> str:
    """Masked, lower-cased text; masking twice gives the same text as once."""
    out = _URL.sub(" <url> ", text)
    out = _HANDLE.sub(" <handle> ", out)
    out = _NAME.sub(" <name> ", out)
    out = _NUMBER.sub(" <num> ", out)
    out = _PUNCT.sub(" ", out.lower())
    return _SPACE.sub(" ", out).strip()


def fingerprint(text: str) -> str:
    """A short stable hash of the masked text."""
    return hashlib.sha256(mask(text).encode("utf-8")).hexdigest()[:16]


def has_link(text: str) -> bool:
    return bool(_URL.search(text))


def has_call_to_action(text: str) -> bool:
    return bool(CALL_TO_ACTION.search(text))
