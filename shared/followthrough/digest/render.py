"""Report -> subject, HTML and plain text, with Jinja2.

The HTML template is autoescaped (names and posts are hostile input) and its
stylesheet is inlined with css-inline, so mail clients that drop ``<style>``
(Gmail's apps, Outlook) show the same layout. The plain-text template is not
HTML-escaped (it cannot run markup, and "&amp;" in a name would be wrong);
what escaping means for plain text is done for both parts instead: control
and bidirectional-override characters in any value are flattened, so a
display name cannot start fake lines or reverse the text around it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import css_inline
from jinja2 import Environment
from markupsafe import Markup

from followthrough.digest.followup import with_follow_through
from followthrough.digest.view import DigestView, build_view
from followthrough.digest.words import short
from followthrough.report import WeeklyReport
from followthrough.templating import environment

# Gmail clips messages over 102 KB. Every list in the view is capped and every
# name and post shortened, so even the largest report stays under this (tested).
HTML_LIMIT_BYTES = 60_000

# C0/C1 controls and the bidi embedding/override/isolate marks (Trojan Source, RLO tricks)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


@dataclass(frozen=True)
class DigestLinks:
    unsubscribe: str
    delete: str
    settings: str = ""
    view: str = ""  # this digest in the browser
    export: str = ""  # download my data


@dataclass
class RenderedDigest:
    subject: str
    html: str
    text: str
    images: dict[str, bytes] = field(default_factory=dict)


def flatten(value: Any) -> Any:
    """Every interpolated string on one line, without direction overrides; markup we built is left alone."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _UNSAFE.sub(" ", value)
    return value


def _environment() -> Environment:
    return environment("templates", finalize=flatten)


@cache
def _inliner() -> css_inline.CSSInliner:
    # no remote stylesheets: rendering never touches the network
    return css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


# every digest's subject starts so (the soak run tells digests from other mail by it)
SUBJECT_PREFIX = "Your week on X"


def subject_for(report: WeeklyReport) -> str:
    n = len(report.conversations)
    who = f", @{short(report.username, 30)}" if report.username else ""
    what = f"{n} conversation{'s' if n != 1 else ''} to have" if n else "a quiet week, time to say hello"
    return str(flatten(f"{SUBJECT_PREFIX}{who}: {what}"))


def render_view(view: DigestView, links: DigestLinks) -> tuple[str, str]:
    """HTML (CSS inlined) and plain text of a digest."""
    env = _environment()
    context = {"v": view, "links": links}
    html = _inliner().inline(env.get_template("digest.html.j2").render(**context))
    text = env.get_template("digest.txt.j2").render(**context)
    return html, text


def without_sections(view: DigestView, hidden: Collection[str]) -> DigestView:
    """The view without the sections the subscriber left out (``subscriber.DIGEST_SECTIONS``)."""
    changes: dict[str, Any] = {"hidden": frozenset(hidden)}
    if "more_people" in hidden:
        changes["more"] = replace(view.more, passive=[], passive_count=None, new_not_greeted=None)
        changes["follow_for_follow"] = None
    if "trends" in hidden:
        changes["charts"] = []
    if "posting" in hidden:
        changes["posting"], changes["posting_warnings"] = [], []
    if "challenge" in hidden:
        changes["challenge"] = None
    return replace(view, **changes)


def render_digest(
    report: WeeklyReport,
    previous: list[WeeklyReport],
    links: DigestLinks,
    unavailable_reasons: list[str] | None = None,
    hidden_sections: Collection[str] = (),
) -> RenderedDigest:
    """The digest of ``report``; ``previous`` are earlier reports (oldest first) for the trends,
    ``unavailable_reasons`` why reads were skipped this week (e.g. the budget was reached),
    ``hidden_sections`` the sections the subscriber left out."""
    view = with_follow_through(build_view(report, previous, unavailable_reasons), report, previous)
    view = without_sections(view, hidden_sections)
    html, text = render_view(view, links)
    return RenderedDigest(subject=subject_for(report), html=html, text=text)
