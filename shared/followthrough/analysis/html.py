"""A plain, self-contained HTML page of one report (the audit's ``--html``; the email digest is built elsewhere)."""

from __future__ import annotations

from followthrough.analysis.wording import person_url
from followthrough.report import WeeklyReport
from followthrough.templating import environment

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
}

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Followthrough audit {{ report.week }}{% if report.username %} for @{{ report.username }}{% endif %}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;border-bottom:1px solid #eee;text-align:left;
vertical-align:top}.muted{color:#666}.score{font-size:2.5rem;font-weight:700}ul.reasons{margin:0;padding-left:1.1rem}
</style></head><body>
<h1>Followthrough audit{% if report.username %} for @{{ report.username }}{% endif %}</h1>
<p class="muted">Week {{ report.week }}{% if report.window_start %}, activity from
{{ report.window_start.strftime("%d %b %Y") }} to {{ report.window_end.strftime("%d %b %Y") }}{% endif %}.</p>
<p><span class="score">{{ m.get("engagement_score") if m.get("engagement_score") is not none else "n/a" }}</span>
<span class="muted">/ 100 engagement score</span></p>
{% if report.unavailable %}<p class="muted">Not measured: {% for name in report.unavailable %}
{{ words.get(name, name) }}{{ "; " if not loop.last else "." }}{% endfor %}</p>{% endif %}

<h2>Five conversations to have</h2>
{% if report.conversations %}<ol>{% for c in report.conversations %}
<li><a href="{{ c.url }}">{{ ("@" ~ c.username) if c.username else c.url }}</a>: {{ c.reason }}</li>
{% endfor %}</ol>{% else %}<p>Nothing waiting. Nice.</p>{% endif %}

<h2>The "@reply everyone you follow" challenge</h2>
{% if report.challenge.share is not none %}<p>You interacted with {{ report.challenge.interacted }} of the
{{ report.challenge.followees }} accounts you follow in the last {{ report.challenge.window_days }} days
({{ "%.0f"|format(report.challenge.share * 100) }}%).</p>{% else %}<p class="muted">Not measured.</p>{% endif %}

<h2>Passive follows ({{ m.get("passive_follows") if m.get("passive_follows") is not none else "n/a" }})</h2>
{% if report.passive_follows %}<table><tr><th>Account</th><th>Why</th></tr>
{% for p in report.passive_follows %}<tr><td><a href="{{ person_url(p) }}">{{ ("@" ~ p.username) if p.username
else p.user_id }}</a></td><td>{{ p.reasons|join(", ") }}</td></tr>
{% endfor %}</table>{% if m.get("passive_follows") and m.get("passive_follows") > report.passive_follows|length %}
<p class="muted">Showing the first {{ report.passive_follows|length }}.</p>{% endif %}{% else %}<p>None.</p>{% endif %}

<h2>Automated DMs</h2>
{% if report.auto_dms.received %}<h3>Received</h3><table><tr><th>Sender</th><th>Confidence</th><th>Why</th></tr>
{% for d in report.auto_dms.received %}
<tr><td><a href="{{ account_url(d.sender_id, d.sender_username) }}">{{ ("@" ~ d.sender_username)
if d.sender_username else d.sender_id }}</a></td>
<td>{{ "%.0f"|format(d.confidence * 100) }}%</td><td><ul class="reasons">{% for r in d.reasons %}<li>{{ r }}</li>
{% endfor %}</ul></td></tr>{% endfor %}</table>{% endif %}
{% if report.auto_dms.sent %}<h3>Sent by you</h3><table><tr><th>Recipients</th><th>Messages</th><th>Why</th></tr>
{% for s in report.auto_dms.sent %}<tr><td>{{ s.recipient_ids|length }}</td><td>{{ s.count }}</td>
<td>{{ s.reasons|join("; ") }}</td></tr>{% endfor %}</table>{% endif %}
{% if not report.auto_dms.received and not report.auto_dms.sent %}<p>None found.</p>{% endif %}

<h2>Unanswered mentions</h2>
{% if m.get("unanswered_mentions") is none %}<p class="muted">Not measured.</p>
{% elif report.unanswered_mentions %}<ul>{% for u in report.unanswered_mentions %}
<li><a href="{{ u.url }}">{{ ("@" ~ u.author_username) if u.author_username else u.author_id }}</a>
{% if u.text %}: {{ u.text }}{% endif %}</li>{% endfor %}</ul>{% else %}<p>None.</p>{% endif %}

<h2>Metrics</h2>
<table>{% for name, value in report.metrics.items() %}<tr><td>{{ name.replace("_", " ") }}</td>
<td>{{ "n/a" if value is none else value }}</td>
<td class="muted">{% if report.deltas.get(name) is not none %}{{ "%+g"|format(report.deltas[name]) }}{% endif %}
</td></tr>{% endfor %}</table>
{% if report.hashtag_chats %}<h2>Hashtag chats</h2><ul>{% for c in report.hashtag_chats %}
<li>{{ c.hashtag }}: {{ c.posts }} posts with {{ c.participants }} others, {{ c.started_at.strftime("%d %b %H:%M") }}
</li>{% endfor %}</ul>{% endif %}
<p class="muted">Report schema version {{ report.schema_version }}.</p>
</body></html>
"""


def render_html(report: WeeklyReport) -> str:
    """The report as one self-contained page; every value is HTML-escaped."""
    return (
        environment()
        .from_string(_TEMPLATE)
        .render(
            report=report,
            m=report.metrics,
            words=UNAVAILABLE_WORDS,
            person_url=lambda p: person_url(p.user_id, p.username),
            account_url=person_url,
        )
    )
