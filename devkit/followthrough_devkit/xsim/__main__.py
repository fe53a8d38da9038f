"""Run the X stand-in: ``python -m followthrough_devkit.xsim --port 8001 --seed 7 [--profile demo]``."""

from __future__ import annotations

import argparse
import threading
from datetime import datetime

from followthrough_devkit.xsim.generator import PROFILES, generate_account
from followthrough_devkit.xsim.server import XSimServer
from followthrough_devkit.xsim.sim import XSim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m followthrough_devkit.xsim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", default="demo", choices=sorted(PROFILES))
    parser.add_argument("--anchor", type=datetime.fromisoformat, default=None, help="ISO time the data ends at (UTC)")
    parser.add_argument(
        "--no-rate-limits", action="store_true", help="do not enforce X's 15-minute rate limits (on as on X)"
    )
    args = parser.parse_args(argv)

    account = generate_account(args.seed, args.profile, args.anchor)
    sim = XSim(enforce_rate_limits=not args.no_rate_limits)
    user_id = sim.add_account(account)
    access, refresh = sim.issue_tokens(user_id)
    with XSimServer(sim, host=args.host, port=args.port) as server:
        # A local development aid: printing a throwaway token of a synthetic account is the point.
        print(f"X stand-in at {server.base_url}", flush=True)
        print(f"account: {user_id} @{account.username} ({args.profile}, seed {args.seed})", flush=True)
        print(f"access token (2 h): {access}", flush=True)
        print(f"refresh token: {refresh}", flush=True)
        print("Ctrl-C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
