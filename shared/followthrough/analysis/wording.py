"""Friendly words for reasons and suggestions: durations, handles, links to X."""

from __future__ import annotations

from datetime import timedelta


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def duration(span: timedelta) -> str:
    """'3 hours', '5 days', '6 weeks', '14 months', '2 years': coarse on purpose."""
    days = span.total_seconds() / 86400
    if days < 1:
        return plural(max(int(span.total_seconds() // 3600), 1), "hour")
    if days < 14:
        return plural(int(days), "day")
    if days < 60:
        return plural(int(days // 7), "week")
    if days < 730:
        return plural(int(days // 30.44), "month")
    return plural(int(days // 365.25), "year")


def ago(span: timedelta) -> str:
    return "today" if span.total_seconds() < 86400 else f"{duration(span)} ago"


def handle(username: str | None, fallback: str = "this account") -> str:
    return f"@{username}" if username else fallback


def person_url(user_id: str, username: str | None) -> str:
    # x.com/i/user/<id> redirects to the profile when the username is unknown
    return f"https://x.com/{username}" if username else f"https://x.com/i/user/{user_id}"


def post_url(post_id: str, username: str | None) -> str:
    return f"https://x.com/{username}/status/{post_id}" if username else f"https://x.com/i/status/{post_id}"


def join_words(items: list[str], conjunction: str = "or") -> str:
    """'a', 'a or b', 'a, b or c' (or with "and")."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


# what each unavailable input means for the reader
UNAVAILABLE_WORDS = {
    "posts": "your posts could not be read",
    "mentions": "mentions by others are not available (an X archive does not contain them)",
    "likes": "your likes could not be read",
    "like_authors": "likes could not be tied to the accounts you liked",
    "dm_events": "direct messages could not be read",
    "following": "the accounts you follow could not be read",
    "followers": "your followers could not be read",
    "follow_times": "when people followed you is not known, so new followers cannot be told apart",
    "follower_baseline": "the followers who were newest last week have all left, so this week's new followers "
    "cannot be told from older ones; they are counted again from next week",
    "follower_counts": "how many accounts your new followers follow is not known, so follow-for-follow "
    "followers cannot be told apart",
    "search_recent": "the search for posts naming you without the @ could not be made this week",
}
