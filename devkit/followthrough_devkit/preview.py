"""``make preview``: the demo subscriber's digest, exactly as it would be sent.

Runs the demo world (moto + the X stand-in, the real handlers) for a few
simulated weeks, so the digest has trends to draw, and writes the last
week's message as ``digest.html``, ``digest.txt`` and ``digest.eml`` (the
whole MIME message SES received). Each week the demo subscriber takes up
some of the conversations the last digest suggested (one to three of them,
the stand-in's ``take_up``), so the follow-up and its trend have something
to show.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from followthrough_devkit.aws import LocalAws
from followthrough_devkit.demo import DEMO_SEED, DemoWorld, run_week, say, start_world, write_outputs
from followthrough_devkit.xsim.generator import take_up

DEFAULT_WEEKS = 8


def preview(
    out: Path, *, seed: int = DEMO_SEED, weeks: int = DEFAULT_WEEKS, aws: LocalAws | None = None
) -> tuple[str, Path | None]:
    """Run ``weeks`` weekly cycles of the demo world (in moto's server, or ``aws`` when given);
    returns the last week and where its digest was written."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    # the first week starts now and later ones move the stand-in's clock forward, as a deployment would live them
    world = start_world(seed, quiet=True, aws=aws)
    try:
        # the demo subscriber turns on the opt-in search too, so the preview shows every section there is
        searching = world.subscriber.model_copy(update={"opted_in_reads": ["search_recent"]})
        world.services.repositories.subscribers.put_subscriber(searching, reference=world.now)
        week = ""
        for n in range(weeks):
            if n:
                world.sim.advance_week(seed=seed * 1000 + n)
                _take_up_some(world, week, n)
            week = run_week(world, at=world.sim.now())["week"]
        return week, write_outputs(world, week, out)
    finally:
        world.close()


def _take_up_some(world: DemoWorld, last_week: str, n: int) -> None:
    """The subscriber has one to three of ``last_week``'s suggested conversations in the week just added."""
    stored = world.services.repositories.weeks.get_week(world.subscriber.subscriber_id, last_week)
    if stored is None:
        return
    suggested = [(c.kind, c.user_id, c.post_id) for c in stored[0].conversations]
    x_user_id = world.subscriber.x_user_id
    assert x_user_id is not None, "the demo subscriber is signed up with X"
    with world.sim.lock:
        take_up(world.sim.accounts[x_user_id], suggested[: 1 + n % 3], seed=n)


def main(out_dir: str = "out", seed: int = DEMO_SEED, weeks: int = DEFAULT_WEEKS) -> int:
    started = time.monotonic()
    out = Path(out_dir)
    say(f"Rendering the demo subscriber's digest after {weeks} simulated week{'s' if weeks != 1 else ''}...")
    week, written = preview(out, seed=seed, weeks=weeks)
    if written is None:
        say(f"No digest was sent for {week}; run `followthrough-dev demo` to see why.")
        return 1
    html = out / "digest.html"
    say(
        f"Week {week}: wrote {html} ({html.stat().st_size / 1024:.1f} KB), {out / 'digest.txt'}, "
        f"{out / 'digest.eml'} in {time.monotonic() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
