"""What collecting costs in X API dollars, against what it must cost and what naive reading costs.

For three account profiles, runs the real collector (``Services.collect``, in-process moto, the
local X stand-in over HTTP, behaving like X: xsim/realism.py) for a first run and then a steady week
(the stand-in adds one week of activity), and prices what the stand-in's meter says it served:

- ``cost_usd``: what the collector's reads cost, of which ``reconcile_usd`` went on keeping the
  followee set right (the re-read of the following list, lookups before naming; pipeline/followees.py);
- ``lower_bound_usd``: only the resources that are new that week, plus one ``users/me``;
- ``naive_usd``: re-reading the full following and followers lists plus the week's new items.

Then an 8-week churn run (weekly follows, the subscriber's own unfollows, counts that include
suspended accounts): ``wrongly_named`` followees (named in a report while not followed: must be 0),
weeks the followee set was stale (the report said "as of"), and what reconciliation cost.

Budgets are lifted for the measurement (the default weekly cap would cut the large profile short;
that is the budget working, not the reader); the large profile's first run is also run under the
default first-run budget, with what it left unread. Prints tables and writes out/api_cost.json.

    .venv/bin/python bench/api_cost.py [--profiles small typical large] [--weeks 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from moto import mock_aws

from followthrough.config import CollectorConfig, PostCapConfig, XPrices
from followthrough.messages import CollectRequest
from followthrough.pipeline.collect import CollectResult
from followthrough.pipeline.reads import PRICE_OF
from followthrough.subscriber import iso_week
from followthrough_devkit.aws import LocalAws, create_resources
from followthrough_devkit.demo import DemoWorld, start_world
from followthrough_devkit.xsim.api import POST_CAP_ENDPOINTS

ANCHOR = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
WEEKS_PER_CYCLE = 365.25 / 12 / 7  # a monthly billing cycle


def priced(resources: dict[str, int], prices: XPrices) -> float:
    return round(
        sum(n * getattr(prices, PRICE_OF[endpoint]) for endpoint, n in resources.items() if endpoint in PRICE_OF), 4
    )


RECONCILE = ("following_reread", "following_unordered", "following_passed", "users_lookup")


def _environ(first_run_budget: str = "100000") -> None:
    os.environ.update(
        {
            "WEEKLY_BUDGET_USD": "100000",
            "FIRST_RUN_BUDGET_USD": first_run_budget,
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )


def _collect(world: DemoWorld, label: str) -> CollectResult:
    services = world.services
    result = services.collect.run(
        CollectRequest(subscriber_id=world.subscriber.subscriber_id, week=iso_week(services.now()))
    )
    if result.status != "collected":
        raise RuntimeError(f"{label}: {result.status} {result.reason}")
    return result


def _reconcile_usd(result: CollectResult) -> float:
    return round(sum(result.spend.usd.get(label, 0.0) for label in RECONCILE), 4)


@contextmanager
def _world(profile: str, first_run_budget: str = "100000") -> Iterator[DemoWorld]:
    """One subscriber of ``profile`` on the stand-in (its realism on, as X behaves) and in-process moto."""
    _environ(first_run_budget)
    with mock_aws():
        world = start_world(seed=3, now=ANCHOR, profile=profile, aws=create_resources(LocalAws(endpoint_url="")))
        try:
            yield world
        finally:
            world.close()


def measure(profile: str, prices: XPrices) -> dict[str, dict[str, float | int]]:
    with _world(profile) as world:
        sim, user_id = world.sim, world.subscriber.x_user_id
        assert user_id is not None
        out: dict[str, dict[str, float | int]] = {}

        def run(label: str, lower: float, naive: float) -> None:
            sim.meter.reset()
            started = time.perf_counter()
            result = _collect(world, f"{profile} {label}")
            snapshot = sim.meter.snapshot()
            served = {k: v["resources"] for k, v in snapshot.items()}
            out[label] = {
                "cost_usd": priced(served, prices),
                "reconcile_usd": _reconcile_usd(result),
                "lower_bound_usd": round(lower, 4),
                "naive_usd": round(naive, 4),
                "requests": sum(v["requests"] for v in snapshot.values()),
                "resources": sum(served.values()),
                "reread": sum(v.get("resource_ids_returned_twice", 0) for v in snapshot.values()),
                # what X's monthly Post cap counts (pricing.mdx): every post, mention and liked post read
                "post_reads": sum(served.get(e, 0) for e in POST_CAP_ENDPOINTS),
                "seconds": round(time.perf_counter() - started, 2),
            }

        account = sim.accounts[user_id]
        full_lists = (len(account.following) + len(account.followers)) * prices.user
        run("first_run", lower=float("nan"), naive=float("nan"))
        delta = sim.advance_week(seed=11)[user_id]
        new_items = (
            len(delta.post_ids) * prices.post
            + len(delta.mention_ids) * prices.post
            + len(delta.liked_post_ids) * prices.like
            + len(delta.dm_event_ids) * prices.dm_event
        )
        lower = new_items + (len(delta.new_following_ids) + len(delta.new_follower_ids)) * prices.user + prices.user
        account = sim.accounts[user_id]
        naive = (len(account.following) + len(account.followers)) * prices.user + new_items + prices.user
        run("steady", lower=lower, naive=naive)
        out["first_run"]["naive_usd"] = round(full_lists + out["first_run"]["cost_usd"], 4)
        out["first_run"].pop("lower_bound_usd")
        return out


def churn(profile: str, weeks: int) -> dict[str, float | int]:
    """A first run, then ``weeks`` weeks of churn: who the reports named while not followed, how many weeks
    the followee set was stale, and what keeping it right cost."""
    with _world(profile) as world:
        user_id = world.subscriber.x_user_id
        assert user_id is not None
        _collect(world, f"{profile} churn first run")
        wrongly_named = stale = unfollows = worst_counted = counted = 0
        reconcile = total = 0.0
        for week in range(weeks):
            delta = world.sim.advance_week(seed=100 + week)[user_id]
            unfollows += len(delta.unfollowed_ids)
            result = _collect(world, f"{profile} churn week {week + 1}")
            report = result.report
            assert report is not None
            followed = world.sim.accounts[user_id].follow_times
            named = {p.user_id for p in report.passive_follows}
            named |= {c.user_id for c in report.conversations if c.kind == "greet_followee"}
            named |= {d.user_id for d in report.dormant_followees or []}
            wrongly_named += len(named - set(followed))
            stale += report.following_as_of is not None
            state = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, "9999-W01")
            counted = len(set(state.graphs["following"]) - set(followed))
            worst_counted = max(worst_counted, counted)
            reconcile += _reconcile_usd(result)
            total += result.spend.total_usd
        return {
            "weeks": weeks,
            "own_unfollows": unfollows,
            "wrongly_named": wrongly_named,
            "stale_weeks": stale,
            # followees counted in the challenge though no longer followed: the most in any week, and at the end
            "counted_not_followed_max": worst_counted,
            "counted_not_followed_end": counted,
            "reconcile_usd": round(reconcile, 4),
            "total_usd": round(total, 4),
        }


def budgeted_first_run(profile: str) -> dict[str, object]:
    """The first run under the default first-run budget: what it cost and what it left unread."""
    budget = str(CollectorConfig().first_run_budget_usd)
    with _world(profile, first_run_budget=budget) as world:
        user_id = world.subscriber.x_user_id
        assert user_id is not None
        account = world.sim.accounts[user_id]
        available = {"following": len(account.following), "followers": len(account.followers)}
        result = _collect(world, f"{profile} budgeted first run")
        return {
            "budget_usd": float(budget),
            "cost_usd": result.spend.total_usd,
            "read": dict(result.counts),
            "lists_available": available,
            "left_unread": list(result.spend.skipped) + list(result.spend.notes),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["small", "typical", "large"])
    parser.add_argument("--weeks", type=int, default=8, help="weeks of the churn run")
    parser.add_argument("--out", type=Path, default=Path("out/api_cost.json"))
    args = parser.parse_args(argv)
    prices = XPrices()
    results: dict[str, dict[str, dict[str, float | int]]] = {}
    churns: dict[str, dict[str, float | int]] = {}
    for profile in args.profiles:
        print(f"measuring {profile}...", file=sys.stderr, flush=True)
        results[profile] = measure(profile, prices)
        churns[profile] = churn(profile, args.weeks)
    budgeted = budgeted_first_run("large") if "large" in args.profiles else None
    print(
        f"{'profile':<9} {'run':<10} {'cost $':>8} {'of it reconcile $':>17} {'lower $':>8} {'naive $':>9} "
        f"{'cost/lower':>10} {'reading/lower':>13} {'naive/cost':>10} {'requests':>8} {'re-read':>7} {'Posts':>7}"
    )
    for profile, runs in results.items():
        for label, r in runs.items():
            lower = r.get("lower_bound_usd")
            ratio = f"{r['cost_usd'] / lower:.2f}" if lower else "-"
            reading_ratio = f"{(r['cost_usd'] - r['reconcile_usd']) / lower:.2f}" if lower else "-"
            print(
                f"{profile:<9} {label:<10} {r['cost_usd']:>8.2f} {r['reconcile_usd']:>17.2f} "
                f"{lower if lower else '-':>8} {r['naive_usd']:>9.2f} {ratio:>10} {reading_ratio:>13} "
                f"{r['naive_usd'] / r['cost_usd']:>10.1f} {r['requests']:>8} {r['reread']:>7} {r['post_reads']:>7}"
            )
    cap = PostCapConfig().cap or 0
    for profile, runs in results.items():
        weekly = runs["steady"]["post_reads"] * WEEKS_PER_CYCLE
        print(
            f"{profile}: one pay-per-use app's {cap:,} Posts a cycle cover {cap / max(weekly, 1):,.0f} such "
            f"subscribers in steady weeks, or {cap / max(runs['first_run']['post_reads'], 1):,.0f} first runs"
        )
    print(f"\n{args.weeks}-week churn run (weekly follows, the subscriber's own unfollows, suspended accounts counted)")
    print(
        f"{'profile':<9} {'unfollows':>9} {'wrongly named':>13} {'stale weeks':>11} {'counted, gone (max/end)':>23} "
        f"{'reconcile $':>11} {'all reads $':>11}"
    )
    for profile, c in churns.items():
        gone = f"{c['counted_not_followed_max']}/{c['counted_not_followed_end']}"
        print(
            f"{profile:<9} {c['own_unfollows']:>9} {c['wrongly_named']:>13} {c['stale_weeks']:>8}/{c['weeks']:<2} "
            f"{gone:>23} {c['reconcile_usd']:>11.2f} {c['total_usd']:>11.2f}"
        )
    if budgeted:
        print(
            f"\nlarge first run under the default ${budgeted['budget_usd']:.2f} first-run budget: "
            f"${budgeted['cost_usd']:.2f}; read {budgeted['read']} of lists {budgeted['lists_available']}"
        )
        for line in budgeted["left_unread"]:  # type: ignore[attr-defined]
            print(f"  left unread: {line}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"profiles": results, "churn": churns, "large_first_run_budgeted": budgeted}, indent=2)
    )
    typical = results.get("typical", {})
    if typical:
        steady, first = typical["steady"], typical["first_run"]
        cost, lower, naive = steady["cost_usd"], steady["lower_bound_usd"], steady["naive_usd"]
        reading = cost - steady["reconcile_usd"]
        ok = reading <= 1.15 * lower and naive >= 15 * reading
        print(
            f"typical steady week: reading {reading / lower:.2f}x the lower bound (target <= 1.15), "
            f"{naive / reading:.1f}x cheaper than naive (target >= 15): {'met' if ok else 'NOT met'}; "
            f"reconciliation ${steady['reconcile_usd']:.2f} on top"
        )
        print(
            f"typical first run: ${first['cost_usd']:.2f} (target <= 15): "
            f"{'met' if first['cost_usd'] <= 15 else 'NOT met'}"
        )
    wrong = sum(int(c["wrongly_named"]) for c in churns.values())
    print(f"wrongly named followees in the churn runs: {wrong} (must be 0): {'met' if wrong == 0 else 'NOT met'}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
