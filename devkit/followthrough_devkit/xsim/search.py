"""The query language of X's recent search (``GET /2/tweets/search/recent``), as far as the stand-in serves it.

From x-api/posts/search/integrate/operators.mdx and build-a-query.mdx: keywords (a tokenized match in the
post's text), "exact phrases", ``@username`` (posts mentioning them), ``from:username``, ``is:retweet`` and
``is:reply`` (conjunction-required: never alone), ``-`` negating any of them, ``OR`` between terms, parentheses,
and an implicit AND between terms. All operators are case-insensitive. Queries are at most 512 characters.
Any other operator is refused with a 400, so a query that would mean something else on X fails loudly here.

Not confirmed in X's documentation, so chosen and said here: a keyword does not match an ``@mention`` or a
``#hashtag`` of the same word (they are tokens of their own; use ``@`` or ``#`` for those).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from followthrough.xmodels import XTweet

MAX_QUERY_LENGTH = 512
_TOKEN = re.compile(r'\s*(?:(\()|(\))|"([^"]*)"|(-?)([^\s()"]+))')
_WORD = re.compile(r"[@#]?\w+")  # punctuation splits words: "Ann's" holds the keyword "ann"


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class _Post:
    """What a query can test about one post."""

    tokens: tuple[str, ...]
    mentions: frozenset[str]
    author: str  # username, lower case
    retweet: bool
    reply: bool


Matcher = Callable[[_Post], bool]


def tokens(text: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in _WORD.findall(text))


def _phrase(words: tuple[str, ...]) -> Matcher:
    n = len(words)
    return lambda p: any(p.tokens[i : i + n] == words for i in range(len(p.tokens) - n + 1))


def _term(raw: str) -> tuple[Matcher, bool]:
    """(matcher, whether the operator can stand alone)."""
    lower = raw.lower()
    if lower.startswith("@") and len(lower) > 1:
        return (lambda p: lower[1:] in p.mentions), True
    if lower.startswith("from:") and len(lower) > 5:
        return (lambda p: p.author == lower[5:].lstrip("@")), True
    if lower == "is:retweet":
        return (lambda p: p.retweet), False
    if lower == "is:reply":
        return (lambda p: p.reply), False
    if ":" in lower:
        raise QueryError(f"operator {raw!r} is not served by the X stand-in")
    words = tokens(raw)
    if not words:
        raise QueryError(f"nothing to match in {raw!r}")
    return _phrase(words), True


class _Parser:
    def __init__(self, query: str) -> None:
        self.items: list[tuple[str, str, bool]] = []  # (kind, value, negated)
        pos = 0
        while pos < len(query):
            match = _TOKEN.match(query, pos)
            if match is None or match.end() == pos:
                if query[pos:].strip():
                    raise QueryError(f"cannot read the query at {query[pos:]!r}")
                break
            pos = match.end()
            if match.group(1):
                self.items.append(("(", "", False))
            elif match.group(2):
                self.items.append((")", "", False))
            elif match.group(3) is not None:
                self.items.append(("phrase", match.group(3), False))
            else:
                value, negated = match.group(5), bool(match.group(4))
                self.items.append(("or" if value == "OR" and not negated else "term", value, negated))
        self.at = 0

    def peek(self) -> str | None:
        return self.items[self.at][0] if self.at < len(self.items) else None

    def parse_or(self) -> tuple[Matcher, bool]:
        parts = [self.parse_and()]
        while self.peek() == "or":
            self.at += 1
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        matchers = [m for m, _ in parts]
        return (lambda p: any(m(p) for m in matchers)), all(s for _, s in parts)

    def parse_and(self) -> tuple[Matcher, bool]:
        parts: list[tuple[Matcher, bool]] = []
        while self.peek() in ("(", "phrase", "term"):
            parts.append(self.parse_one())
        if not parts:
            raise QueryError("an empty group or a dangling OR")
        matchers = [m for m, _ in parts]
        return (lambda p: all(m(p) for m in matchers)), any(s for _, s in parts)

    def parse_one(self) -> tuple[Matcher, bool]:
        kind, value, negated = self.items[self.at]
        self.at += 1
        if kind == "(":
            inner = self.parse_or()
            if self.peek() != ")":
                raise QueryError("unbalanced parentheses")
            self.at += 1
            return inner
        if kind == "phrase":
            words = tokens(value)
            if not words:
                raise QueryError("an empty phrase")
            return _phrase(words), True
        matcher, standalone = _term(value)
        if negated:
            return (lambda p: not matcher(p)), False
        return matcher, standalone


def compile_query(query: str) -> Matcher:
    """The query as a test on a post; ``QueryError`` for what X would answer with a 400."""
    if not query.strip():
        raise QueryError("the query is empty")
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    parser = _Parser(query)
    matcher, standalone = parser.parse_or()
    if parser.at != len(parser.items):
        raise QueryError("unbalanced parentheses")
    if not standalone:
        raise QueryError("the query needs at least one standalone operator (negations and is: need company)")
    return matcher


def searchable(tweet: XTweet, author_username: str) -> _Post:
    kinds = {r.type for r in tweet.referenced_tweets}
    entities = tweet.entities
    return _Post(
        tokens=tokens(tweet.text),
        mentions=frozenset(m.username.lower() for m in entities.mentions) if entities else frozenset(),
        author=author_username.lower(),
        retweet="retweeted" in kinds,
        reply="replied_to" in kinds or tweet.in_reply_to_user_id is not None,
    )
