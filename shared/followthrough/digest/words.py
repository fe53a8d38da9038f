"""The digest's small pieces of wording: shortened texts, handles, profile links (the view and its parts)."""

from __future__ import annotations

from urllib.parse import quote

QUOTE_CHARS = 180
NAME_CHARS = 40


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def handle(username: str | None, fallback: str) -> str:
    return f"@{short(username, NAME_CHARS)}" if username else fallback


def profile_url(user_id: str, username: str | None) -> str:
    if username:
        return f"https://x.com/{quote(username, safe='')}"
    return f"https://x.com/i/user/{quote(user_id, safe='')}"
