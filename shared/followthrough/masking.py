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
# The same rule for any cased script (José, Zoë, Łukasz, Дмитрий): a word of letters, a capital then lower case.
# On ASCII text it masks exactly what ``_NAME`` masks, so stored fingerprints of ASCII texts do not change.
_WORD = re.compile(r"(?<![.!?]\s)(?<!^)\b\w+\b")
# Scripts without case (李, أحمد, ...) give no capital to go by: there, the word right after an opening
# greeting is taken for a name ("Hi 李!", "مرحبا أحمد،"), the shape of the templates automated DMs use.
# Letters only: a digit glued to the name ("李0") is masked as a number, so masking again changes nothing.
_GREETING = re.compile(
    r"\A([^\w<>]*(?:hi|hello|hey|hiya|dear|thanks|thank you|hola|bonjour|salut|hallo|ciao|olá|oi|cześć|привет|"
    r"مرحبا|أهلا|اهلا|السلام عليكم|你好|您好|こんにちは|안녕하세요|שלום|नमस्ते)[^\w<>]+)([^\W\d_]+)",
    re.IGNORECASE,
)

CALL_TO_ACTION = re.compile(
    r"\b(check out|click|subscribe|sign up|signup|join|download|buy|grab|get your|visit|follow me on|"
    r"like my|free (?:ebook|e-book|guide|trial)|my (?:website|blog|page|channel)|use code|discount|"
    r"dm me|book a call|register)\b",
    re.IGNORECASE,
)
# the same words matched on lower-cased text: several times faster than IGNORECASE; and on ASCII text,
# where Unicode and ASCII word boundaries are the same, faster still with ASCII classes
_CALL_TO_ACTION_LOWER = re.compile(CALL_TO_ACTION.pattern)
_CALL_TO_ACTION_ASCII = re.compile(CALL_TO_ACTION.pattern, re.ASCII)

# Most DMs are ASCII. For them the last steps of masking (lower-casing, punctuation to spaces, one space
# between words) run on bytes: one translate, then split and join, several times faster than the regex.
# The table is derived from ``_PUNCT`` itself; whitespace becomes a plain space, as it only separates words.
_ASCII_DIGITS = b"0123456789"
_PLAIN = re.compile(r"[A-Za-z][a-z ]*")
_NOT_CAPITAL_OR_DIGIT = bytes(b for b in range(256) if not (0x41 <= b <= 0x5A or 0x30 <= b <= 0x39))
_ASCII_FOLD = bytes(
    0x20 if _PUNCT.match(char) or char.isspace() else ord(char) for char in (chr(b).lower() for b in range(128))
) + bytes(range(128, 256))


def _plain(text: str) -> bool:
    """Words of letters one space apart, a capital only at the start ("Sounds good see you there").

    Such a text has nothing to mask: its masked text is itself lower-cased.
    """
    return _PLAIN.fullmatch(text) is not None and "  " not in text and text[-1] != " "


def _masked(text: str, low: str) -> bytes:
    """``mask(text)`` as UTF-8, given ``text.lower()``."""
    if _plain(text):
        return low.encode("ascii")
    # Each substitution is skipped when a cheap test shows it cannot match:
    # most DMs have no link, handle, digit or capital past the first letter.
    out = _URL.sub(" <url> ", text) if "http" in low or "www." in low else text
    if "@" in out:
        out = _HANDLE.sub(" <handle> ", out)
    if not out.isascii():
        if not out[1:].islower():  # a name is a capital word, never the very first one
            out = _WORD.sub(_cased_name, out)
        out = _GREETING.sub(_uncased_name, out, count=1)
        out = _NUMBER.sub(" <num> ", out)
        out = _PUNCT.sub(" ", out.lower())
        return " ".join(out.split()).encode("utf-8")
    raw = out.encode("ascii")
    marks = raw.translate(None, _NOT_CAPITAL_OR_DIGIT)  # one pass finds both
    if marks:
        capitals = marks.translate(None, _ASCII_DIGITS)
        if len(capitals) > (0x41 <= raw[0] <= 0x5A):  # a capital past the first letter
            out = _NAME.sub(" <name> ", out)
            raw = out.encode("ascii")
        if len(capitals) < len(marks):  # a digit
            raw = _NUMBER.sub(" <num> ", out).encode("ascii")
    raw = raw.translate(_ASCII_FOLD)
    if b"  " in raw or raw[:1] == b" " or raw[-1:] == b" ":  # else the words are one space apart already
        raw = b" ".join(raw.split())
    return raw


def _is_cased_name(word: str) -> bool:
    rest = word[1:]
    return word[0].isupper() and rest.isalpha() and rest.islower()


def _cased_name(found: re.Match[str]) -> str:
    word = found.group()
    return " <name> " if _is_cased_name(word) else word


def _uncased_name(found: re.Match[str]) -> str:
    word = found.group(2)
    uncased = word.isalpha() and word.lower() == word.upper()  # letters of no case at all
    return f"{found.group(1)} <name> " if uncased else found.group()


def mask(text: str) -> str:
    """Masked, lower-cased text; masking twice gives the same text as once."""
    return _masked(text, text.lower()).decode("utf-8")


def fingerprint(text: str) -> str:
    """A short stable hash of the masked text."""
    return hashlib.sha256(_masked(text, text.lower())).hexdigest()[:16]


def has_link(text: str) -> bool:
    low = text.lower()
    return ("http" in low or "www." in low) and bool(_URL.search(text))


def has_call_to_action(text: str) -> bool:
    return _call_to_action(text.lower())


def _call_to_action(low: str) -> bool:
    return bool((_CALL_TO_ACTION_ASCII if low.isascii() else _CALL_TO_ACTION_LOWER).search(low))


class DmSignals(TypedDict):
    """What the automated-DM detector keeps of one DM text (the ``DmEvent`` fields)."""

    fingerprint: str | None
    has_link: bool
    has_call_to_action: bool
    word_count: int


def dm_signals(text: str, *, flags: bool = True) -> DmSignals:
    """The fingerprint and flags of a DM text, ready for ``DmEvent(**...)``; the text itself is not kept.

    ``flags=False`` leaves ``has_link`` and ``has_call_to_action`` False without looking: for a
    message the automated-DM detector never judges (one that does not open its conversation).
    """
    if not text:
        return {"fingerprint": None, "has_link": False, "has_call_to_action": False, "word_count": 0}
    low = text.lower()  # once for all four
    plain = _plain(text)
    return {
        "fingerprint": hashlib.sha256(low.encode("ascii") if plain else _masked(text, low)).hexdigest()[:16],
        "has_link": flags and ("http" in low or "www." in low) and bool(_URL.search(text)),
        "has_call_to_action": flags and _call_to_action(low),
        "word_count": text.count(" ") + 1 if plain else len(text.split()),
    }
