"""What collecting costs in X API dollars, against what it must cost and what naive reading costs.

For three account profiles, runs the real collector (``Services.collect``, in-process moto, the
local X stand-in over HTTP) for a first run and then a steady week (the stand-in adds one week of
activity), and prices what the stand-in's meter says it served:

- ``cost_usd``: what the collector's reads cost;
- ``lower_bound_usd``: only the resources that are new that week, plus one ``users/me``;
- ``naive_usd``: re-reading the full following and followers lists plus the week's new items.

Budgets are lifted for the measurement (the default weekly cap would cut the large profile short;
that is the budget working, not the reader). Prints a table and writes out/api_cost.json.

    .venv/bin/python bench/api_cost.py [--profiles small typical large]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from moto import mock_aws

from followthrough.config import PostCapConfig, XPrices
from followthrough.messages import CollectRequest
from followthrough.pipeline.reads import PRICE_OF
from followthrough.subscriber import iso_week
from followthrough_devkit.aws import LocalAws, create_resources
from followthrough_devkit.demo import start_world
from followthrough_devkit.xsim.api import POST_CAP_ENDPOINTS

ANCHOR = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
WEEKS_PER_CYCLE = 365.25 / 12 / 7  # a monthly billing cycle


def priced(resources: dict[str, int], prices: XPrices) -> float:
    return round(
        sum(n * getattr(prices, PRICE_OF[endpoint]) for endpoint, n in resources.items() if endpoint in PRICE_OF), 4
    )


def measure(profile: str, prices: XPrices) -> dict[str, dict[str, float | int]]:
    os.environ.update(
        {
            "WEEKLY_BUDGET_USD": "100000",
            "FIRST_RUN_BUDGET_USD": "100000",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    with mock_aws():
        aws = create_resources(LocalAws(endpoint_url=""))
        world = start_world(seed=3, now=ANCHOR, profile=profile, aws=aws)
        try:
            sid = world.subscriber.subscriber_id
            sim = world.sim
            out: dict[str, dict[str, float | int]] = {}

            def run(label: str, lower: float, naive: float) -> None:
                sim.meter.reset()
                started = time.perf_counter()
                services = world.services
                result = services.collect.run(CollectRequest(subscriber_id=sid, week=iso_week(services.now())))
                if result.status != "collected":
                    raise RuntimeError(f"{profile} {label}: {result.status} {result.reason}")
                snapshot = sim.meter.snapshot()
                served = {k: v["resources"] for k, v in snapshot.items()}
                out[label] = {
                    "cost_usd": priced(served, prices),
                    "lower_bound_usd": round(lower, 4),
                    "naive_usd": round(naive, 4),
                    "requests": sum(v["requests"] for v in snapshot.values()),
                    "resources": sum(served.values()),
                    "reread": sum(v.get("resource_ids_returned_twice", 0) for v in snapshot.values()),
                    # what X's monthly Post cap counts (pricing.mdx): every post, mention and liked post read
                    "post_reads": sum(served.get(e, 0) for e in POST_CAP_ENDPOINTS),
                    "seconds": round(time.perf_counter() - started, 2),
                }

            account = sim.accounts[world.subscriber.x_user_id]
            full_lists = (len(account.following) + len(account.followers)) * prices.user
            run("first_run", lower=float("nan"), naive=float("nan"))
            delta = sim.advance_week(seed=11)[world.subscriber.x_user_id]
            new_items = (
                len(delta.post_ids) * prices.post
                + len(delta.mention_ids) * prices.post
                + len(delta.liked_post_ids) * prices.like
                + len(delta.dm_event_ids) * prices.dm_event
            )
            lower = new_items + (len(delta.new_following_ids) + len(delta.new_follower_ids)) * prices.user + prices.user
            account = sim.accounts[world.subscriber.x_user_id]
            naive = (len(account.following) + len(account.followers)) * prices.user + new_items + prices.user
            run("steady", lower=lower, naive=naive)
            out["first_run"]["naive_usd"] = round(full_lists + out["first_run"]["cost_usd"], 4)
            out["first_run"].pop("lower_bound_usd")
            return out
        finally:
            world.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["small", "typical", "large"])
    parser.add_argument("--out", type=Path, default=Path("out/api_cost.json"))
    args = parser.parse_args(argv)
    prices = XPrices()
    results: dict[str, dict[str, dict[str, float | int]]] = {}
    for profile in args.profiles:
        print(f"measuring {profile}...", file=sys.stderr, flush=True)
        results[profile] = measure(profile, prices)
    print(
        f"{'profile':<9} {'run':<10} {'cost $':>8} {'lower $':>8} {'naive $':>9} {'cost/lower':>10} "
        f"{'naive/cost':>10} {'requests':>8} {'re-read':>7} {'Posts':>7}"
    )
    for profile, runs in results.items():
        for label, r in runs.items():
            lower = r.get("lower_bound_usd")
            ratio = f"{r['cost_usd'] / lower:.2f}" if lower else "-"
            print(
                f"{profile:<9} {label:<10} {r['cost_usd']:>8.2f} {lower if lower else '-':>8} "
                f"{r['naive_usd']:>9.2f} {ratio:>10} {r['naive_usd'] / r['cost_usd']:>10.1f} "
                f"{r['requests']:>8} {r['reread']:>7} {r['post_reads']:>7}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"profiles": results}, indent=2))
    cap = PostCapConfig().cap or 0
    for profile, runs in results.items():
        weekly = runs["steady"]["post_reads"] * WEEKS_PER_CYCLE
        print(
            f"{profile}: one pay-per-use app's {cap:,} Posts a cycle cover {cap / max(weekly, 1):,.0f} such "
            f"subscribers in steady weeks, or {cap / max(runs['first_run']['post_reads'], 1):,.0f} first runs"
        )
    typical = results.get("typical", {}).get("steady")
    if typical:
        cost, lower, naive = typical["cost_usd"], typical["lower_bound_usd"], typical["naive_usd"]
        ok = cost <= 1.15 * lower and naive >= 15 * cost
        print(
            f"typical steady week: {typical['cost_usd'] / typical['lower_bound_usd']:.2f}x the lower bound "
            f"(target <= 1.15), {typical['naive_usd'] / typical['cost_usd']:.1f}x cheaper than naive "
            f"(target >= 15): {'met' if ok else 'NOT met'}"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
