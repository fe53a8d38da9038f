"""Report -> subject, HTML and plain text, with Jinja2 (autoescaped: names and posts are hostile input)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from followthrough.report import WeeklyReport


@dataclass(frozen=True)
class DigestLinks:
    unsubscribe: str
    delete: str
    settings: str = ""


@dataclass
class RenderedDigest:
    subject: str
    html: str
    text: str
    images: dict[str, bytes] = field(default_factory=dict)


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("followthrough", "templates"),
        # HTML templates escape everything; plain-text ones cannot run markup,
        # and escaping there would only print "&amp;" in people's names
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def subject_for(report: WeeklyReport) -> str:
    n = len(report.conversations)
    who = f"@{report.username}" if report.username else "you"
    return f"Your week on X, {who}: {n} conversation{'s' if n != 1 else ''} to have"


def render_digest(report: WeeklyReport, previous: list[WeeklyReport], links: DigestLinks,
                  unavailable_reasons: list[str] | None = None) -> RenderedDigest:
    env = _environment()
    context = {
        "report": report,
        "previous": previous,
        "links": links,
        "unavailable_reasons": unavailable_reasons or [],
        "metrics": report.metrics,
    }
    html = env.get_template("digest.html.j2").render(**context)
    text = env.get_template("digest.txt.j2").render(**context)
    return RenderedDigest(subject=subject_for(report), html=html, text=text)
