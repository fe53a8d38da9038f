"""``make demo``: the weekly audit end to end on one machine.

moto's server stands in for AWS and the X stand-in for X; the real handlers
run in-process with real event shapes: EventBridge scheduled event ->
dispatch -> SQS -> collect -> SQS -> digest -> SES (moto's outbox).
"""

from __future__ import annotations

import email
import email.policy
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from followthrough.adapters.x import TokenSet
from followthrough.bootstrap import Services, from_environment
from followthrough.subscriber import Subscriber, iso_week
from followthrough_devkit.aws import LocalAws, apply_environ, start_local_aws
from followthrough_devkit.lambda_runtime import drain, invoke, scheduled_event
from followthrough_devkit.xsim import XSim, XSimServer, generate_account
from followthrough_devkit.xsim.realism import Realism

DEMO_SEED = 7
DEMO_EMAIL = "you@example.com"


@dataclass
class DemoWorld:
    """A running local AWS and X, with one registered demo subscriber."""

    aws: LocalAws
    sim: XSim
    x_server: XSimServer
    subscriber: Subscriber
    now: datetime
    services: Services

    def reload(self) -> None:
        """Services built again from the environment (after it changed), still on the stand-in's clock."""
        self.services = from_environment(clock=self.sim.now)

    def close(self) -> None:
        self.x_server.stop()
        self.aws.stop()


def say(message: str) -> None:
    print(message, flush=True)


# A quiet console for people: the functions' JSON logs and metrics stay in
# Lambda's format but only warnings and errors reach the terminal.
QUIET = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}


def start_world(
    seed: int = DEMO_SEED,
    now: datetime | None = None,
    profile: str = "demo",
    quiet: bool = True,
    aws: LocalAws | None = None,
    adapt: Callable[[Services], object] | None = None,
    realism: Realism | None = None,
) -> DemoWorld:
    """Start the X stand-in (and moto's server unless ``aws`` is given), point this process at them,
    and register the demo subscriber. The services run on the stand-in's clock, so a simulated week
    later is a week later for tokens and cursors too; ``adapt`` may replace some of their adapters
    before anything is stored (tests put in-memory twins there); ``realism``: how X-like the stand-in is
    (all of it by default)."""
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    aws = aws or start_local_aws()
    sim = XSim(anchor=now, realtime=False, realism=realism)
    user_id = sim.add_account(generate_account(seed, profile, anchor=now))
    x_server = XSimServer(sim)
    x_server.start()
    apply_environ(aws, {"X_API_BASE_URL": x_server.base_url, **(QUIET if quiet else {})})
    services = from_environment(clock=sim.now)
    if adapt is not None:
        adapt(services)
    config = services.settings
    sim.register_client(config.require("x_client_id"), config.x_client_secret or None)
    account = sim.accounts[user_id]
    subscriber = Subscriber(
        subscriber_id=f"sub-{user_id}",
        email=DEMO_EMAIL,
        x_user_id=user_id,
        username=account.me.username,
        status="active",
        email_confirmed=True,
        digest_day=now.weekday(),
        digest_hour=now.hour,
        time_zone="UTC",
        consent_version="demo",
        consent_at=now,
        created_at=now,
        own_domains=list(account.own_domains),
    )
    services.repositories.subscribers.put_subscriber(subscriber, reference=now)
    access, refresh = sim.issue_tokens(user_id)
    services.token_keeper.save(
        subscriber.subscriber_id, TokenSet(access, refresh, now.timestamp() + 7200), expected_version=None
    )
    return DemoWorld(aws=aws, sim=sim, x_server=x_server, subscriber=subscriber, now=now, services=services)


def run_week(world: DemoWorld, at: datetime | None = None) -> dict[str, Any]:
    """One weekly cycle through the real handlers: schedule -> dispatch -> collect -> digest."""
    at = at or world.now
    dispatched = invoke("dispatch", scheduled_event(at), services=world.services)
    collected = drain("collect", world.aws.queue_urls["collect"], batch_size=5, services=world.services)
    digested = drain("digest", world.aws.queue_urls["digest"], batch_size=10, services=world.services)
    return {"dispatch": dispatched, "collect": collected, "digest": digested, "week": iso_week(at)}


def write_outputs(world: DemoWorld, week: str, out: Path) -> Path | None:
    """Write the digest the subscriber got as .eml, .html and .txt under ``out``."""
    raw = world.services.repositories.weeks.get_digest(world.subscriber.subscriber_id, week)
    if raw is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    (out / "digest.eml").write_bytes(raw)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for subtype, name in (("html", "digest.html"), ("plain", "digest.txt")):
        part = message.get_body(preferencelist=(subtype,))
        if part is not None:
            (out / name).write_text(part.get_content(), encoding="utf-8")
    return out


def main(out_dir: str = "out", seed: int = DEMO_SEED) -> int:
    started = time.monotonic()
    say("Starting moto (local AWS) and the local X stand-in...")
    world = start_world(seed)
    try:
        sub = world.subscriber
        say(f"Subscriber @{sub.username} <{sub.email}>, digest due {world.now:%A %H:00} UTC")
        say("Running the weekly audit: dispatch -> collect -> digest")
        result = run_week(world)
        week = result["week"]
        stored = world.services.repositories.weeks.get_week(sub.subscriber_id, week)
        status = world.services.repositories.weeks.week_status(sub.subscriber_id, week)
        out = write_outputs(world, week, Path(out_dir))
        sent = [m for m in world.aws.sent_emails() if sub.email in m.get("destinations", [])]
        if stored is None or out is None or not sent:
            say(f"The audit did not produce a digest: status {status}")
            return 1
        report, spend = stored
        counts = spend.resources
        say("")
        say(f"Week {week}, subscriber @{sub.username} ({sub.subscriber_id})")
        say(
            f"  read from X: {counts.get('tweets', 0)} posts, {counts.get('mentions', 0)} mentions, "
            f"{counts.get('liked_tweets', 0)} likes, {counts.get('dm_events', 0)} DM events, "
            f"{counts.get('following', 0)} followees, {counts.get('followers', 0)} followers "
            f"({sum(spend.requests.values())} requests, ${spend.total_usd:.2f})"
        )
        say(
            f"  passive follows found: {report.metrics.get('passive_follows')} of "
            f"{report.metrics.get('followees')} followees "
            f"(e.g. {', '.join('@' + (p.username or p.user_id) for p in report.passive_follows[:3])})"
        )
        say(
            f"  automated DMs found: {len(report.auto_dms.received)} received, "
            f"{len(report.auto_dms.sent)} sent by the subscriber"
        )
        say(
            f"  unanswered mentions: {len(report.unanswered_mentions)}; "
            f"conversations suggested: {len(report.conversations)}"
        )
        say(f"  digest emailed to {sub.email} through SES (moto outbox: {len(sent)} message)")
        say(f"  wrote {out / 'digest.html'}, {out / 'digest.txt'}, {out / 'digest.eml'}")
        say(f"Done in {time.monotonic() - started:.1f}s")
        return 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
