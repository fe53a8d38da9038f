"""``make soak``: the whole pipeline with many subscribers and injected faults (not part of the tests).

    .venv/bin/python bench/soak.py [--subscribers 1000] [--seed 1] [--x-fault-rate 0.05] ...

Writes out/soak.json and prints a summary; exits 1 when an invariant is broken.
See followthrough_devkit.soak for what it does.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from followthrough_devkit.soak import SoakConfig, run_soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = SoakConfig()
    for f in fields(SoakConfig):
        if f.name == "profiles":
            continue
        kind = type(getattr(defaults, f.name))
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            default=getattr(defaults, f.name),
            type=(lambda v: v.lower() in ("1", "true", "yes")) if kind is bool else kind,
        )
    parser.add_argument("--out", type=Path, default=Path("out/soak.json"))
    args = parser.parse_args(argv)
    config = SoakConfig(**{f.name: getattr(args, f.name) for f in fields(SoakConfig) if f.name != "profiles"})
    summary = run_soak(config, out=args.out)
    broken = False
    print()
    for week in summary["weeks"]:
        redriven = {queue: len(ids) for queue, ids in week["redriven_from_dlq"].items()}
        print(
            f"week {week['week']}: {week['digests_sent']}/{week['due']} digests sent, "
            f"{len(week['duplicates'])} duplicates, {len(week['missing'])} without a digest "
            f"({len(week['missing_without_reason'])} without a recorded reason), DLQ {week['dead_letters']}, "
            f"X resources read twice {week['x_resources_read_twice']}, redriven {redriven}"
        )
        print(
            f"  X per subscriber: requests {week['x_requests_per_subscriber']}, "
            f"cost ${week['x_cost_usd_per_subscriber']}, Posts read {week['x_post_reads_per_subscriber']}"
        )
        for kind, o in week["x_same_day_overlap"].items():
            print(
                f"  {kind}s: {o['distinct']} distinct, {o['served']} served, {o['read_by_several']} read by several "
                f"subscribers; X billed {o['billed']} (same UTC day), {o['billed_if_spread_over_7_days']} if "
                f"spread over 7 days: one day saves {o['saved_by_one_day']}"
            )
        reasons: dict[str, int] = {}
        for why in week["missing"].values():
            reasons[why.split(" (")[0][:80]] = reasons.get(why.split(" (")[0][:80], 0) + 1
        for why, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            print(f"    {n:5d} x {why}")
        print(f"  reconnect emails to the revoked subscriber so far: {week['reconnect_emails_to_revoked']}")
        arrivals = week["dlq_arrivals"]
        print(
            f"  DLQ arrivals while running: {arrivals['transient']} transient, {arrivals['poison']} planted poison "
            f"({arrivals['poison_without_reason']} without a reason)"
        )
        for cause, n in arrivals["by_cause"].items():
            print(f"    {n:5d} x {cause}")
        broken |= bool(
            week["duplicates"]
            or week["missing_without_reason"]
            or week["unreceiving_mailed"]
            or any(week["dead_letters_without_reason"].values())
            or week["x_resources_read_twice"]
            or week["reconnect_emails_to_revoked"] != 1
            or arrivals["transient"]
            or arrivals["poison_without_reason"]
            or arrivals["poison"] != 4 * config.plant_poison
        )
    for cycle, reads in summary["x_post_reads_per_billing_cycle"].items():
        print(
            f"Post reads in the billing cycle from {cycle}: X counted {reads['x_counted']} (deduplicated per UTC "
            f"day), the app's meter {reads['read']} read, {reads['reserved']} reserved"
            + (f", capped: {reads['capped']}" if reads["capped"] else "")
        )
    print(f"faults: {summary['faults']}")
    for failure, n in list(summary["record_failures"].items())[:8]:
        print(f"  {n:5d} records failed with {failure}")
    dynamodb = summary["dynamodb_per_subscriber_week"]
    print(
        f"Lambda CPU s per subscriber-week: {summary['lambda_cpu_s_per_subscriber']}; DynamoDB calls per "
        f"subscriber-week: {dynamodb['reads']} reads, {dynamodb['writes']} writes; wall {summary['wall_s']}s, "
        f"peak memory {summary['peak_rss_mb']} MB"
    )
    for call, n in dynamodb["by_call"].items():
        print(f"  {n:6.2f} {call}")
    print(f"wrote {args.out}; invariants {'BROKEN' if broken else 'hold'}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
