"""The digest's words for issue 15: last week's five followed up, relationships, follow-for-follow followers.

Built from the report like the rest of the view, on top of it: ``with_follow_through`` fills the parts
``digest.view`` keeps for them (``DigestView.follow_up``, ...); templates only lay them out.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from followthrough.analysis.wording import join_words, plural
from followthrough.digest.view import (
    DigestView,
    FollowForFollowView,
    FollowUpView,
    Person,
    RelationshipsView,
    chart_weeks,
    number,
)
from followthrough.digest.words import handle, profile_url
from followthrough.report import FollowUpItem, WeeklyReport

NAMES_SHOWN = 3  # people named in one line; the rest are counted


def with_follow_through(view: DigestView, report: WeeklyReport, previous: list[WeeklyReport]) -> DigestView:
    """``view`` with issue 15's parts; the digest's first line opens with the follow-up."""
    follow_up = follow_up_view(report)
    preheader = view.preheader
    if follow_up is not None and follow_up.opening:
        preheader = f"{follow_up.opening} {preheader}"
    return replace(
        view,
        preheader=preheader,
        follow_up=follow_up,
        relationships=relationships_view(report, chart_weeks(report, previous)),
        follow_for_follow=follow_for_follow_view(report),
    )


def _weekday(at: datetime | None) -> str:
    return f" from {at:%A}" if at is not None else ""


def describe(item: FollowUpItem) -> str:
    """'@ana's question from Tuesday', 'a hello to @bob', 'welcoming @carl'."""
    if item.kind == "answer_mention":
        whose = f"{handle(item.username, '')}'s" if item.username else "a"
        return f"{whose} {'question' if item.question else 'mention'}{_weekday(item.about_at)}"
    if item.kind == "welcome_follower":
        return f"welcoming {handle(item.username, 'a new follower')}"
    return f"a hello to {handle(item.username, 'someone you follow')}"


def _base_label(report: WeeklyReport, base_week: str) -> str:
    """'last week's' or 'the digest of 16 Nov's'."""
    this = date.fromisocalendar(*_iso(report.week), 1)
    base = date.fromisocalendar(*_iso(base_week), 1)
    if (this - base).days == 7:
        return "last week's"
    return f"your {base:%-d %b} digest's"


def _iso(week: str) -> tuple[int, int]:
    year, _, number = week.partition("-W")
    return int(year), int(number)


def follow_up_view(report: WeeklyReport) -> FollowUpView | None:
    found = report.follow_up
    if found is None or not found.items:
        return None
    fresh = found.fresh()
    done = [i for i in fresh if i.state == "done"]
    carried = [i for i in found.items if i.carried]
    carried_done = [i for i in carried if i.state == "done"]
    try:
        label = _base_label(report, found.base_week)
    except ValueError:  # a week label this code did not write
        label = "the last digest's"
    opening = f"You had {len(done)} of {label} {plural(len(fresh), 'conversation')}."
    if not fresh:
        opening = ""
    if carried:
        opening += f" Of the {len(carried)} still open from before, you had {len(carried_done)}."
    still = found.in_state("open")
    expired = found.in_state("expired")
    streak = int(report.metrics.get("followup_streak") or 0)
    return FollowUpView(
        opening=opening.strip(),
        still_open=[Person(describe(i), i.url or profile_url(i.user_id, i.username)) for i in still],
        expired_line=(
            f"Let go after two digests: {join_words([describe(i) for i in expired], 'and')}." if expired else ""
        ),
        streak_line=f"{plural(streak, 'digest')} in a row with a conversation followed through." if streak >= 2 else "",
    )


def relationships_view(report: WeeklyReport, history: list[WeeklyReport]) -> RelationshipsView | None:
    """``history``: the weeks the digest's charts span, this one last."""
    count = report.metrics.get("relationships")
    if count is None:
        return None
    change = ""
    delta = report.deltas.get("relationships")
    if delta is not None:
        steps = round(delta)
        change = (
            "as many as last week" if steps == 0 else f"{abs(steps)} {'more' if steps > 0 else 'fewer'} than last week"
        )
    new = [r for r in report.relationships if r.new]
    values = [r.metrics.get("relationships") for r in history]
    followees = report.metrics.get("followee_relationships")
    return RelationshipsView(
        count=int(count),
        change=change,
        new=[Person(handle(r.username, "someone"), profile_url(r.user_id, r.username)) for r in new[:NAMES_SHOWN]],
        more_new=max(int(report.metrics.get("new_relationships") or 0) - NAMES_SHOWN, 0),
        followees=None if followees is None else int(followees),
        trend=" · ".join(number(v) for v in values) if sum(v is not None for v in values) >= 2 else "",
    )


def follow_for_follow_view(report: WeeklyReport) -> FollowForFollowView | None:
    found = report.follow_for_follow
    if not found:
        return None
    total = max(int(report.metrics.get("follow_for_follow_followers") or 0), len(found))
    return FollowForFollowView(
        people=[Person(handle(f.username, "someone"), profile_url(f.user_id, f.username)) for f in found[:NAMES_SHOWN]],
        more=total - min(len(found), NAMES_SHOWN),
    )
