"""DM masking and fingerprints: what makes two messages "the same text"."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from followthrough import masking, normalize
from followthrough.xmodels import XDmEvent

# The masking as first written. Fingerprints are stored for 30 days and compared
# across weeks, so the faster implementation must give exactly the same text.
_REF_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_REF_HANDLE = re.compile(r"@\w{1,15}")
_REF_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_REF_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+\b")
# Since 2026-12-01 names in any script are masked too (docs/decisions.md): a capital then lower-case letters in
# cased scripts, the word after an opening greeting (punctuation before it allowed; letters only, so a digit glued
# to it is a number) in scripts without case. On ASCII text the first rule is _REF_NAME.
_REF_WORD = re.compile(r"(?<![.!?]\s)(?<!^)\b\w+\b")
_REF_GREETING = re.compile(
    r"\A([^\w<>]*(?:hi|hello|hey|hiya|dear|thanks|thank you|hola|bonjour|salut|hallo|ciao|olá|oi|"
    r"cześć|привет|"
    r"مرحبا|أهلا|اهلا|السلام عليكم|你好|您好|こんにちは|안녕하세요|שלום|नमस्ते)[^\w<>]+)([^\W\d_]+)",
    re.IGNORECASE,
)


def _ref_names(text: str) -> str:
    if text.isascii():
        return _REF_NAME.sub(" <name> ", text)

    def cased(found: re.Match[str]) -> str:
        word = found.group()
        is_name = word[0].isupper() and word[1:].isalpha() and word[1:].islower()
        return " <name> " if is_name else word

    def uncased(found: re.Match[str]) -> str:
        word = found.group(2)
        no_case = word.isalpha() and all(c.lower() == c.upper() for c in word)
        return f"{found.group(1)} <name> " if no_case else found.group()

    return _REF_GREETING.sub(uncased, _REF_WORD.sub(cased, text), count=1)


def reference_mask(text: str) -> str:
    out = _REF_URL.sub(" <url> ", text)
    out = _REF_HANDLE.sub(" <handle> ", out)
    out = _ref_names(out)
    out = _REF_NUMBER.sub(" <num> ", out)
    out = re.sub(r"[^\w\s<>]", " ", out.lower())
    return re.sub(r"\s+", " ", out).strip()


# text made of the pieces masking cares about, so the interesting cases are common
pieces = st.sampled_from(
    [
        "Hey",
        "hey",
        "Anna",
        "Bob",
        "thanks",
        "for",
        "the",
        "follow",
        " ",
        "  ",
        ". ",
        "! ",
        "? ",
        ",",
        "\n",
        "\t",
        "https://t.co/abc",
        "HTTP://X.COM/a?b=1",
        "www.example.com/x",
        "WWW.",
        "@anna_b",
        "@",
        "@x1",
        "12",
        "3.5",
        "1,000",
        "٣",
        "<",
        ">",
        "<url>",
        "İ",
        "K",
        "é",
        "_",
        "José",
        "Zoë",
        "Łukasz",
        "李",
        "أحمد",
        "Hi ",
        "مرحبا ",
        "Check out",
        "JOIN",
        "sign up",
        "rt",
        "http",
        "ww",
    ]
)
texts = st.lists(pieces, max_size=25).map("".join) | st.text(max_size=80)


@settings(max_examples=500, deadline=None)
@given(texts)
def test_masking_twice_is_masking_once(text: str) -> None:
    once = masking.mask(text)
    assert masking.mask(once) == once


@settings(max_examples=500, deadline=None)
@given(texts)
@example(". Hi 李")  # punctuation before the greeting (found by a random run on 2026-12-02)
@example("Hi 李0")
def test_masking_matches_the_reference(text: str) -> None:
    assert masking.mask(text) == reference_mask(text)
    assert masking.has_link(text) == bool(_REF_URL.search(text))


def test_fingerprints_are_stable_across_versions() -> None:
    # computed with the first implementation; a change here silently breaks matching against stored fingerprints
    assert (
        masking.fingerprint("Hey Anna, thanks for the follow! Grab my free ebook: https://t.co/x1 (10 tips)")
        == "d74ac1d044dc44d0"
    )
    assert masking.fingerprint("see you at 5?") == "7ac8394d49d5cc5f"
    assert masking.fingerprint("x") == hashlib.sha256(b"x").hexdigest()[:16]


names = st.sampled_from(["Anna", "Bob", "Chen", "Dolores", "Ed"])
links = st.sampled_from(["https://t.co/abc", "https://bit.ly/3xYz", "www.example.org/free", "http://a.b/c?d=e"])
handles = st.from_regex(r"@[A-Za-z0-9_]{1,15}", fullmatch=True)
numbers = st.integers(0, 10**9).map(str) | st.sampled_from(["3.5", "1,000", "10"])


@given(names, names, links, links, handles, handles, numbers, numbers)
def test_names_links_handles_and_numbers_do_not_change_the_fingerprint(
    n1: str, n2: str, u1: str, u2: str, h1: str, h2: str, d1: str, d2: str
) -> None:
    template = "Hi {n}, thanks for the follow! I wrote {d} tips for you at {u}, say hi to {h}"
    first = template.format(n=n1, u=u1, h=h1, d=d1)
    second = template.format(n=n2, u=u2, h=h2, d=d2)
    assert masking.fingerprint(first) == masking.fingerprint(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Hi José! Check out my course", "Hi Zoë! Check out my course"),
        ("Hey Łukasz, thanks for the follow", "Hey Anna, thanks for the follow"),
        ("Hi 李! Check out my course", "Hi 王! Check out my course"),
        ("Hi 李! Check out my course", "Hi Anna! Check out my course"),
        ("مرحبا أحمد، شكرا للمتابعة", "مرحبا محمد، شكرا للمتابعة"),
        ("Hello أحمد, join my channel", "Hello Jürgen, join my channel"),
    ],
)
def test_names_in_any_script_are_masked(first: str, second: str) -> None:
    assert masking.fingerprint(first) == masking.fingerprint(second)
    assert "<name>" in masking.mask(first)


def test_words_that_are_not_names_stay() -> None:
    assert masking.mask("Hi there, Größe matters") == "hi there <name> matters"
    assert masking.mask("hi 李 李") == "hi <name> 李"  # only the word after the greeting
    assert masking.fingerprint("Hi 李! Check out my course") != masking.fingerprint("Hi 李! Check out my shop")


def test_the_same_thought_in_other_words_is_a_different_text() -> None:
    assert masking.fingerprint("Thanks for the follow, loved your talk") != masking.fingerprint(
        "thank you for following me, great talk"
    )


def test_links_and_calls_to_action() -> None:
    assert masking.has_link("look: https://t.co/x") and masking.has_link("see WWW.example.com")
    assert not masking.has_link("no link here, just http talk")
    assert masking.has_call_to_action("Check Out my course") and masking.has_call_to_action("SUBSCRIBE now")
    assert not masking.has_call_to_action("checking outside")


@given(texts)
def test_the_archive_and_the_collector_keep_the_same_signals(text: str) -> None:
    event = normalize.dm_event(
        XDmEvent(id="1", text=text, sender_id="2", dm_conversation_id="1-2", created_at="2026-11-20T10:00:00Z")
    )  # type: ignore[arg-type]
    signals = masking.dm_signals(text)
    assert signals == {
        "fingerprint": event.fingerprint,
        "has_link": event.has_link,
        "has_call_to_action": event.has_call_to_action,
        "word_count": event.word_count,
    }
