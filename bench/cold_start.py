"""Benchmark: how much a cold start's import of each function's handler costs, against bare boto3.

A Lambda cold start imports the handler module before the first event; what
it imports beyond boto3 (which every function needs) is what the project
adds. In one run, each in a fresh Python process, alternating so that disk
caches and machine load affect every figure alike:

- ``baseline_s``: ``import boto3`` (for the collector: ``import boto3, tweepy``,
  which it cannot do without);
- ``import_s``: importing ``functions/<name>/app.py`` as Lambda does
  (``app`` from the function's folder), handler decorators and all.

Each figure is the median of ROUNDS processes; ``ratio = import_s / baseline_s``.
Writes ``out/cold_start.json``. Targets: ratio <= 1.3 for the sign-up API (people
wait for its first page), <= 1.5 for the collector. The others are reported.

Run: ``.venv/bin/python bench/cold_start.py [--rounds N]``. Bytecode is
compiled once before measuring, as ``make build`` does for the Lambda zips.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "cold_start.json"
FUNCTIONS = ROOT / "functions"
BASELINES = {"collect": "import boto3, tweepy"}
DEFAULT_BASELINE = "import boto3"
TARGETS = {"signup": 1.3, "collect": 1.5}
ROUNDS = 15

TIMED = """
import sys, time
sys.path.insert(0, {folder!r})
started = time.perf_counter()
{statement}
print(time.perf_counter() - started)
"""


def functions() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS.glob("*/app.py"))


def timed(statement: str, folder: str = "") -> float:
    """Seconds ``statement`` takes in a fresh interpreter (with the environment a function has)."""
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "Followthrough",
        "POWERTOOLS_SERVICE_NAME": Path(folder).name or "baseline",
    }
    code = TIMED.format(folder=folder or str(ROOT), statement=statement)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False, cwd=folder or ROOT
    )
    if result.returncode != 0:
        raise RuntimeError(f"{statement!r} in {folder or ROOT} failed:\n{result.stderr}")
    return float(result.stdout.strip().splitlines()[-1])


def measure(rounds: int) -> dict[str, dict[str, object]]:
    names = functions()
    # bytecode everywhere first: the Lambda zips carry it (functions/Makefile)
    compileall.compile_dir(str(ROOT / "shared" / "followthrough"), quiet=1)
    compileall.compile_dir(str(FUNCTIONS), quiet=1)
    statements = {f"baseline:{b}": (b, "") for b in {DEFAULT_BASELINE, *BASELINES.values()}}
    statements.update({name: ("import app", str(FUNCTIONS / name)) for name in names})
    timed(DEFAULT_BASELINE)  # warm the file system cache once, unmeasured
    samples: dict[str, list[float]] = {key: [] for key in statements}
    order = list(statements)
    for round_number in range(rounds):
        for key in order if round_number % 2 == 0 else reversed(order):
            statement, folder = statements[key]
            samples[key].append(timed(statement, folder))
    results: dict[str, dict[str, object]] = {}
    for name in names:
        baseline = BASELINES.get(name, DEFAULT_BASELINE)
        import_s = statistics.median(samples[name])
        baseline_s = statistics.median(samples[f"baseline:{baseline}"])
        results[name] = {
            "import_s": round(import_s, 4),
            "baseline_s": round(baseline_s, 4),
            "ratio": round(import_s / baseline_s, 2),
            "baseline": baseline,
            "target": TARGETS.get(name),
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    results = measure(args.rounds)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    for name, r in results.items():
        target = r["target"]
        verdict = "" if target is None else (" met" if float(r["ratio"]) <= float(target) else " NOT met")  # type: ignore[arg-type]
        print(
            f"{name:10} import {r['import_s']:.3f}s  vs {r['baseline']:<22} {r['baseline_s']:.3f}s  "
            f"ratio {r['ratio']:.2f}" + (f" (target <= {target}){verdict}" if target else "")
        )
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
