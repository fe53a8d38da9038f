"""The archive audit's ``--html``: one plain, self-contained page of a report (the email digest is built in
``followthrough.digest``), from ``templates/audit.html.j2``."""

from __future__ import annotations

from followthrough.analysis.wording import UNAVAILABLE_WORDS, person_url
from followthrough.report import WeeklyReport
from followthrough.subscriber import WEEKDAYS
from followthrough.templating import environment


def render_html(report: WeeklyReport) -> str:
    """The report as one self-contained page; every value is HTML-escaped."""
    return (
        environment()
        .get_template("audit.html.j2")
        .render(
            report=report,
            m=report.metrics,
            words=UNAVAILABLE_WORDS,
            person_url=lambda p: person_url(p.user_id, p.username),
            account_url=person_url,
            weekdays=WEEKDAYS,
        )
    )
