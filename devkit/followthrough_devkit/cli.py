"""The ``followthrough-dev`` command: the product run on one machine (moto for AWS, the X stand-in for X).

``demo``, ``preview`` and ``serve`` each start moto's server and the X stand-in,
so their modules are imported only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _devkit(name: str) -> Any:
    return importlib.import_module(f"followthrough_devkit.{name}")


def _preview_weeks(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 26:
        raise argparse.ArgumentTypeError(f"between 1 and 26 weeks, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="followthrough-dev", description="Followthrough on one machine: moto for AWS, the X stand-in for X."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run the weekly audit end to end on this machine (moto + the local X stand-in)",
        description="Start moto's server and the local X stand-in, register a demo subscriber, run "
        "dispatch -> collect -> digest through the real handlers, and write the digest.",
    )
    demo.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=7, help="synthetic account seed (default: %(default)s)")
    demo.set_defaults(run=lambda args: _devkit("demo").main(str(args.out), seed=args.seed))

    preview = sub.add_parser(
        "preview",
        help="render the demo subscriber's digest as it would be sent (moto + the local X stand-in)",
        description="Run the demo world for a few simulated weeks (so the digest has trends to draw) and "
        "write the last week's digest as digest.html, digest.txt and digest.eml (the MIME message).",
    )
    preview.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: %(default)s)")
    preview.add_argument("--seed", type=int, default=7, help="synthetic account seed (default: %(default)s)")
    preview.add_argument(
        "--weeks",
        type=_preview_weeks,
        default=8,
        metavar="N",
        help="simulated weeks to run, 1-26 (default: %(default)s)",
    )
    preview.set_defaults(run=lambda args: _devkit("preview").main(str(args.out), seed=args.seed, weeks=args.weeks))

    serve = sub.add_parser(
        "serve",
        help="run the sign-up API on 127.0.0.1 (moto + the local X stand-in)",
        description="Serve the sign-up form and the subscriber lifecycle the way API Gateway runs them: each "
        "request becomes an HttpApi event for functions/signup. moto stands in for AWS and the local "
        "X stand-in for X's authorization page.",
    )
    serve.add_argument(
        "--port", type=int, default=None, help="port on 127.0.0.1 (default: $PORT, else 8000; 0 picks a free one)"
    )
    serve.set_defaults(run=lambda args: _devkit("serve").main(args.port))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
