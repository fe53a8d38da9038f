"""The engagement score and the week-over-week view."""

from __future__ import annotations

from followthrough.analysis.config import AnalysisConfig
from followthrough.report import WeeklyReport

Metrics = dict[str, float | int | None]

TREND_METRICS = (
    "engagement_score",
    "challenge_share",
    "conversation_share",
    "response_rate",
    "posts_per_day",
    "passive_follows",
    "followup_rate",
    "followup_streak",
    "relationships",
)


def engagement_score(m: Metrics, cfg: AnalysisConfig) -> int | None:
    """0-100; the formula is documented on ``AnalysisConfig``."""
    welcome = None
    # likely follow-for-follow followers are not expected to be greeted
    to_greet = int(m.get("new_followers") or 0) - int(m.get("follow_for_follow_followers") or 0)
    if to_greet > 0:
        welcome = 1 - (m.get("new_followers_not_greeted") or 0) / float(to_greet)
    promo = m.get("self_promotion_share")
    share = m.get("challenge_share")
    components = [
        (cfg.score_w_conversation, m.get("conversation_share")),
        (cfg.score_w_response, m.get("response_rate")),
        (cfg.score_w_reach_out, None if share is None else min(share / cfg.challenge_target, 1.0)),
        (cfg.score_w_welcome, welcome),
        (cfg.score_w_own_voice, None if promo is None else 1 - promo),
    ]
    measured = [(w, float(c)) for w, c in components if c is not None and w > 0]
    if not measured:
        return None
    score = 100 * sum(w * c for w, c in measured) / sum(w for w, _ in measured)
    score -= cfg.penalty_auto_dm_sent * min(int(m.get("auto_dms_sent") or 0), 2)
    score -= cfg.penalty_twittiarrhea * int(m.get("twittiarrhea") or 0)
    return round(min(max(score, 0.0), 100.0))


def deltas(current: Metrics, previous: list[WeeklyReport]) -> dict[str, float | None]:
    """This week minus the newest earlier report, per metric; None where either is missing."""
    if not previous:
        return {}
    before = previous[-1].metrics
    out: dict[str, float | None] = {}
    for name, value in current.items():
        old = before.get(name)
        out[name] = None if value is None or old is None else round(value - old, 4)
    return out


def trends(current: Metrics, previous: list[WeeklyReport], weeks: int) -> dict[str, list[float | None]]:
    earlier = previous[-(weeks - 1) :] if weeks > 1 else []
    return {name: [report.metrics.get(name) for report in earlier] + [current.get(name)] for name in TREND_METRICS}
