"""The whole pipeline under load and faults: many subscribers, two weekly cycles, nothing lost.

Starts moto's server and the X stand-in, signs up N subscribers through the
sign-up service (form, X's consent page, callback, confirmation link; each
with its own generated account; a mix of profiles; some never confirm, some
unsubscribe, one revokes the app, one's address bounces), then runs
weekly cycles (dispatch -> collect -> digest) through the real handlers and
moto's SQS (batches, partial batch failures, redelivery after the visibility
timeout, the DLQ after max receives), while seeded faults hit X (429s with
reset times, 503s, slow and truncated responses), DynamoDB and SES
(throttling, through botocore's retries), and handler processes die after
part of a batch. Then the faults stop, the DLQs are redriven and the cycle
is run again to finish the remaining work. Every invariant is checked and
reported; ``bench/soak.py`` is the command, ``tests/test_soak.py`` the small
version.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import random
import resource
import secrets
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3

from followthrough.bootstrap import Services, from_environment
from followthrough.digest.render import SUBJECT_PREFIX
from followthrough.links import confirmation_digest, make_token
from followthrough.pipeline.postcap import posts_read
from followthrough.subscriber import iso_week
from followthrough_devkit.aws import LocalAws, apply_environ, start_local_aws
from followthrough_devkit.demo import QUIET
from followthrough_devkit.faults import AwsFaults
from followthrough_devkit.lambda_runtime import (
    FUNCTIONS_DIR,
    InvocationDied,
    drain,
    invoke,
    queue_depth,
    scheduled_event,
)
from followthrough_devkit.xsim import XSim, XSimServer

START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # a Monday
SLOTS = 3  # subscribers are spread over three consecutive hours of the same day


@dataclass
class SoakConfig:
    subscribers: int = 1000
    seed: int = 1
    weeks: int = 2
    profiles: dict[str, float] = field(default_factory=lambda: {"small": 0.7, "typical": 0.28, "large": 0.02})
    unconfirmed_share: float = 0.03
    unsubscribed_share: float = 0.03
    x_fault_rate: float = 0.05  # 429 or 503
    x_slow_s: float = 0.01
    x_truncate_rate: float = 0.01
    aws_fault_rate: float = 0.05  # DynamoDB and SES throttling, before botocore's retries
    crash_rate: float = 0.02  # an invocation dies after processing a record
    # a digest invocation dies inside its send, before SES: its idempotency record is left in progress
    crash_in_send_rate: float = 0.01
    plant_poison: bool = True  # per queue and week: one invalid body, one missing subscriber
    visibility_s: int = 2
    progress_every_s: float = 2.0


@dataclass
class Population:
    receiving: list[str] = field(default_factory=list)
    not_receiving: dict[str, str] = field(default_factory=dict)  # id -> why
    revoked: str = ""
    bouncing: str = ""
    emails: dict[str, str] = field(default_factory=dict)  # id -> address


@dataclass
class Meters:
    cpu_s: float = 0.0
    # "<step> <operation>" -> DynamoDB calls (a call retried by botocore counts once); step "setup" is
    # the sign-ups and the soak's own checks, not part of a subscriber-week
    dynamodb_calls: Counter[str] = field(default_factory=Counter)
    crashes: int = 0
    crashes_in_send: int = 0
    invocations: Counter[str] = field(default_factory=Counter)
    # "<step>: <exception type>" -> records that raised it (each is redelivered by SQS)
    record_failures: Counter[str] = field(default_factory=Counter)


@dataclass
class DeadLetters:
    """Every message that reaches a DLQ while the soak runs, seen when it arrives, with its cause.

    A message's cause is the reason the handler dead-lettered it with (a message
    that cannot succeed), or else the history of its receives as the poller saw
    them (what each one came to: a record error, a dead process, ...), which is
    what exhausted SQS's maxReceiveCount.
    """

    # message id -> what each receive came to, in order
    history: dict[str, list[str]] = field(default_factory=dict)
    # (step, subscriber id, week) -> the last error its record raised
    last_error: dict[tuple[str, str, str], str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    depth: Counter[str] = field(default_factory=Counter)
    arrivals: list[dict[str, Any]] = field(default_factory=list)
    planted: set[str] = field(default_factory=set)  # bodies of the poison messages planted on purpose

    def delivered(
        self, step: str, received: list[dict[str, Any]], failed: set[str], died: BaseException | None
    ) -> None:
        for m in received:
            if m["MessageId"] not in failed:
                outcome = "ok"
            elif died is not None:
                outcome = f"invocation failed ({type(died).__name__})"
            else:
                outcome = self.last_error.get((step, *_key(m["Body"])), "record failed before the step ran")
            self.history.setdefault(m["MessageId"], []).append(outcome)

    def arrived(self, queue: str, message: dict[str, Any]) -> dict[str, Any]:
        self.seen.add(message["MessageId"])
        reason = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")
        history = self.history.get(message["MessageId"], [])
        sid, week = _key(message["Body"])
        arrival = {
            "queue": queue,
            "subscriber_id": sid,
            "week": week,
            "planted": message["Body"] in self.planted,
            "reason": reason,
            "receives": len(history),
            "cause": reason
            or "maxReceiveCount exhausted: " + ", ".join(f"{why} x{n}" for why, n in Counter(history).most_common()),
        }
        self.arrivals.append(arrival)
        return arrival

    def summary(self, week: str | None = None) -> dict[str, Any]:
        arrivals = [a for a in self.arrivals if week is None or a["week"] == week]
        unplanted = [a for a in arrivals if not a["planted"]]
        return {
            "total": len(arrivals),
            "transient": len(unplanted),
            "poison": sum(1 for a in arrivals if a["planted"]),
            "poison_without_reason": sum(1 for a in arrivals if a["planted"] and not a["reason"]),
            "by_cause": dict(Counter(f"{a['queue']}: {a['cause']}" for a in arrivals).most_common()),
        }


def _key(body: str) -> tuple[str, str]:
    try:
        parsed = json.loads(body)
        return str(parsed.get("subscriber_id", "")), str(parsed.get("week", ""))
    except (ValueError, AttributeError):
        return "", ""


READS = {"GetItem", "Query", "BatchGetItem", "Scan"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}


class Soak:
    def __init__(self, config: SoakConfig, say: Callable[[str], None] = print) -> None:
        self.config = config
        self.say = say
        self.rng = random.Random(config.seed)
        self.meters = Meters()
        self.started = time.monotonic()
        self.aws: LocalAws | None = None
        self.sim: XSim | None = None
        self.server: XSimServer | None = None
        self.population = Population()
        self._services: Services | None = None
        self.aws_faults = AwsFaults(rate=config.aws_fault_rate, seed=config.seed)
        self.dead_letters = DeadLetters()
        self._faults_on = False
        self._lock = threading.Lock()
        self._last_progress = 0.0
        self._step = "setup"  # what the DynamoDB calls made now belong to

    # -- setting up --------------------------------------------------------------------------

    @property
    def services(self) -> Services:
        assert self._services is not None, "start() first"
        return self._services

    def _build_services(self) -> None:
        """Services from the environment on the stand-in's clock; records die now and then (``_dying``)."""
        assert self.sim is not None
        services = from_environment(clock=self.sim.now)
        services.collect.run = self._dying("run_collect", services.collect.run)  # type: ignore[method-assign]
        services.digest.run = self._dying("run_digest", services.digest.run)  # type: ignore[method-assign]
        self._services = services

    def start(self) -> None:
        self.say(f"starting moto and the X stand-in; generating {self.config.subscribers} accounts...")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        # each retry and dead letter, logged once; the soak reports them itself (dead_letters)
        self._delivery_log_level = logging.getLogger("followthrough.pipeline.delivery").level
        logging.getLogger("followthrough.pipeline.delivery").setLevel(logging.CRITICAL)
        self.aws = start_local_aws(separate_process=True)
        self.sim = XSim(anchor=START, realtime=False)
        self.server = XSimServer(self.sim)
        self.server.start()
        # SQS's delays are compressed: retry backoffs (30 s doubling to 900 s) with them
        apply_environ(
            self.aws,
            {
                **QUIET,
                "X_API_BASE_URL": self.server.base_url,
                "MAX_REQUEUE_DELAY_S": "1",
                "X_RETRY_BACKOFF_S": "0.01",
                "RETRY_BACKOFF_S": "0.25",
                "MAX_RETRY_BACKOFF_S": str(self.config.visibility_s),
            },
        )
        self._build_services()
        sqs = boto3.client("sqs")
        for name in ("collect", "digest"):
            sqs.set_queue_attributes(
                QueueUrl=self.aws.queue_urls[name], Attributes={"VisibilityTimeout": str(self.config.visibility_s)}
            )
        settings = self.services.settings
        self.sim.register_client(settings.require("x_client_id"), settings.x_client_secret or None)
        boto3._get_default_session().events.register(
            "before-call.dynamodb", self._count_dynamodb, unique_id="soak-dynamodb-meter"
        )
        self._register_subscribers()

    def _count_dynamodb(self, event_name: str = "", **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.meters.dynamodb_calls[f"{self._step} {operation}"] += 1

    def dynamodb_per_subscriber_week(self, subscriber_weeks: int) -> dict[str, Any]:
        """The weekly steps' DynamoDB calls (dispatch, collect, digest; retries and redeliveries included)
        per subscriber-week, reads and writes, and by step and kind of call."""
        weekly = {k: v for k, v in self.meters.dynamodb_calls.items() if not k.startswith("setup ")}
        per = max(subscriber_weeks, 1)

        def total(kinds: set[str]) -> float:
            return round(sum(v for k, v in weekly.items() if k.split(" ")[1] in kinds) / per, 2)

        return {
            "reads": total(READS),
            "writes": total(WRITES),
            "by_call": {k: round(v / per, 2) for k, v in sorted(weekly.items())},
            "setup_calls": sum(v for k, v in self.meters.dynamodb_calls.items() if k.startswith("setup ")),
        }

    def _register_subscribers(self) -> None:
        """Every subscriber signs up through the sign-up service: form, X's consent page, callback,
        then the confirmation link (or not: unconfirmed ones), then the unsubscribe link for some."""
        assert self.sim is not None
        config, pop = self.config, self.population
        profiles, weights = zip(*config.profiles.items(), strict=True)
        n = config.subscribers
        revoked_user = ""
        special = {
            "unconfirmed": set(range(1, n, max(int(1 / config.unconfirmed_share), 2)))
            if config.unconfirmed_share
            else set(),
            "unsubscribed": set(range(2, n, max(int(1 / config.unsubscribed_share), 2)))
            if config.unsubscribed_share
            else set(),
        }
        for i in range(n):
            profile = "small" if i < 2 else self.rng.choices(profiles, weights)[0]
            user_id = self.sim.add_seeded(config.seed * 100_000 + i, profile, anchor=START)
            email = "bounce@simulator.example" if i == 3 else f"subscriber{i}@example.com"
            sid = self._sign_up(
                user_id, email, digest_hour=START.hour + i % SLOTS, confirm=i not in special["unconfirmed"]
            )
            if i in special["unconfirmed"]:
                pop.not_receiving[sid] = "email never confirmed (status pending)"
            elif i in special["unsubscribed"]:
                self.services.signup.unsubscribe(
                    make_token(self.services.settings.require("signing_key"), "unsubscribe", sid)
                )
                pop.not_receiving[sid] = "unsubscribed"
            else:
                pop.receiving.append(sid)
                if i == 0:
                    pop.revoked, revoked_user = sid, user_id
                elif i == 3:
                    pop.bouncing = sid
            pop.emails[sid] = email
            self.progress(f"signed up {i + 1}/{n}")
        self.sim.revoke(revoked_user)

    def _sign_up(self, user_id: str, email: str, *, digest_hour: int, confirm: bool) -> str:
        """The sign-up flow a browser drives, step for step, minus the browser."""
        assert self.sim is not None
        from followthrough.signup.forms import CONSENT_VERSION, SignupForm

        service = self.services.signup
        browser = secrets.token_hex(16)
        form = SignupForm(
            email=email,
            digest_day=START.weekday(),
            digest_hour=digest_hour,
            time_zone="UTC",
            consent_version=CONSENT_VERSION,
            consent_at=self.services.now(),
        )
        authorize = urlsplit(service.start(form, browser))
        # X's consent page, approved for this account
        consent = self.sim.handle(
            "POST",
            authorize.path,
            {"content-type": "application/x-www-form-urlencoded"},
            f"{authorize.query}&{urlencode({'user_id': user_id})}".encode(),
        )
        back = parse_qs(urlsplit(consent.headers["location"]).query)
        done = service.complete(state=back["state"][0], code=back["code"][0], error=None, browser_nonce=browser)
        sid: str = done.subscriber.subscriber_id
        if confirm:
            # the link in the confirmation email carries exactly this token
            confirms = confirmation_digest(email, done.subscriber.x_user_id)
            service.confirm(
                make_token(self.services.settings.require("signing_key"), "confirm", sid, confirms=confirms)
            )
        return sid

    # -- faults ------------------------------------------------------------------------------

    @contextmanager
    def faults(self) -> Iterator[None]:
        assert self.sim is not None
        c = self.config
        self.sim.faults.random(
            rate=c.x_fault_rate, statuses=(429, 503), seed=c.seed, delay_s=c.x_slow_s, truncate_rate=c.x_truncate_rate
        )
        self.aws_faults.install()
        self._build_services()  # clients made after install see the faults
        self._faults_on = True
        try:
            yield
        finally:
            self._faults_on = False
            self.sim.faults.clear()
            self.aws_faults.uninstall()
            self._build_services()

    def _dying(self, name: str, run: Callable[..., Any]) -> Callable[..., Any]:
        """``run`` that sometimes kills its process right after finishing a record (and counts what
        records fail with, so a message that reaches a DLQ can be explained)."""

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                result = run(*args, **kwargs)
            except Exception as exc:
                self.meters.record_failures[f"{name}: {type(exc).__name__}: {str(exc)[:80]}"] += 1
                request = args[0] if args else kwargs.get("request")
                step = name.removeprefix("run_")
                self.dead_letters.last_error[
                    (step, getattr(request, "subscriber_id", ""), getattr(request, "week", ""))
                ] = f"{type(exc).__name__}"
                raise
            if self._faults_on and self.rng.random() < self.config.crash_rate:
                self.meters.crashes += 1
                raise InvocationDied("the handler process died after this record")
            return result

        return wrapped

    def _dying_in_send(self, send: Callable[..., Any]) -> Callable[..., Any]:
        """``DigestSender.send`` whose process sometimes dies on entry: inside the idempotent section
        (its record saved in progress), before anything is mailed."""

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if self._faults_on and self.rng.random() < self.config.crash_in_send_rate:
                self.meters.crashes_in_send += 1
                raise InvocationDied("the handler process died inside the send")
            return send(*args, **kwargs)

        return wrapped

    # -- running -----------------------------------------------------------------------------

    def progress(self, phase: str, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_progress >= self.config.progress_every_s:
            self._last_progress = now
            faults = (sum(v["requests"] for v in self._x_meter().values()), self.aws_faults.total, self.meters.crashes)
            self.say(
                f"[{now - self.started:7.1f}s] {phase} | collect runs {self.meters.invocations['collect']}, "
                f"digest runs {self.meters.invocations['digest']} | X requests {faults[0]}, "
                f"AWS faults {faults[1]}, crashes {faults[2]}"
            )

    def _x_meter(self) -> dict[str, dict[str, int]]:
        return self.sim.meter.snapshot() if self.sim else {}

    def _invoke_timed(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.process_time()
        stand_in = self.sim.accounts.cpu_s if self.sim else 0.0  # regenerating X accounts is not Lambda's work
        self._step = name
        try:
            return fn()
        finally:
            self._step = "setup"
            stand_in = (self.sim.accounts.cpu_s if self.sim else 0.0) - stand_in
            self.meters.cpu_s += time.process_time() - started - stand_in
            self.meters.invocations[name] += 1

    def cycle(self, week_start: datetime, label: str) -> None:
        """Dispatch every slot of the week, then feed the queues to the functions until they are empty."""
        assert self.aws is not None
        urls = self.aws.queue_urls
        for slot in range(SLOTS):
            at = week_start + timedelta(hours=slot)
            for attempt in range(3):  # EventBridge retries a failed asynchronous invocation twice
                try:
                    self._invoke_timed(
                        "dispatch", partial(invoke, "dispatch", scheduled_event(at), services=self.services)
                    )
                    break
                except Exception:
                    if attempt == 2:
                        raise
        from followthrough.pipeline.digest import DigestSender

        original_send = DigestSender.send
        DigestSender.send = self._dying_in_send(original_send)  # type: ignore[method-assign]
        # as in Lambda, the context's remaining time is the function's timeout, 1/6 of the visibility timeout
        timeout_ms = max(self.config.visibility_s * 1000 // 6, 1)
        try:
            idle_since = None
            while True:
                busy = 0
                for name, batch in (("collect", 5), ("digest", 10)):
                    stats = self._invoke_timed(
                        name,
                        partial(
                            drain,
                            name,
                            urls[name],
                            batch_size=batch,
                            max_batches=20,
                            services=self.services,
                            timeout_ms=timeout_ms,
                            on_delivery=partial(self.dead_letters.delivered, name),
                        ),
                    )
                    busy += stats.batches
                self.watch_dead_letters()
                self.progress(
                    f"{label}: queues collect {queue_depth(urls['collect'])}, digest {queue_depth(urls['digest'])}"
                )
                if busy:
                    idle_since = None
                    continue
                if queue_depth(urls["collect"]) + queue_depth(urls["digest"]) == 0:
                    break
                idle_since = idle_since or time.monotonic()
                time.sleep(0.2)  # messages in flight or delayed: they come back by themselves
        finally:
            DigestSender.send = original_send  # type: ignore[method-assign]
        self.watch_dead_letters()

    def watch_dead_letters(self) -> None:
        """Record each message that has newly reached a DLQ (peeking: it stays there, visible)."""
        assert self.aws is not None
        sqs = boto3.client("sqs")
        for name in ("collect", "digest"):
            url = self.aws.queue_urls[f"{name}-dlq"]
            if queue_depth(url) == self.dead_letters.depth[name]:
                continue
            handles: list[str] = []
            while True:
                got = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=60,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not got:
                    break
                for m in got:
                    handles.append(m["ReceiptHandle"])
                    if m["MessageId"] not in self.dead_letters.seen:
                        arrival = self.dead_letters.arrived(name, m)
                        self.say(
                            f"  DLQ arrival ({name}): {arrival['subscriber_id'] or m['Body'][:60]} "
                            f"{arrival['week']}: {arrival['cause']}"
                        )
            for n in range(0, len(handles), 10):
                sqs.change_message_visibility_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                        for i, h in enumerate(handles[n : n + 10])
                    ],
                )
            self.dead_letters.depth[name] = len(handles)

    def redrive_dead_letters(self) -> dict[str, list[str]]:
        """Move DLQ messages back to their queues (the operator's redrive after the faults stop);
        returns the subscriber ids moved, by queue. A message dead-lettered with a reason (one
        that cannot succeed) stays for the operator to read."""
        assert self.aws is not None
        self.watch_dead_letters()
        sqs = boto3.client("sqs")
        moved: dict[str, list[str]] = {"collect": [], "digest": []}
        for name in moved:
            dlq = self.aws.queue_urls[f"{name}-dlq"]
            kept: list[str] = []
            while True:
                got = sqs.receive_message(
                    QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=60, MessageAttributeNames=["All"]
                ).get("Messages", [])
                if not got:
                    break
                for m in got:
                    if "reason" in m.get("MessageAttributes", {}):
                        kept.append(m["ReceiptHandle"])
                        continue
                    sqs.send_message(QueueUrl=self.aws.queue_urls[name], MessageBody=m["Body"])
                    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
                    moved[name].append(_key(m["Body"])[0])
            for handle in kept:
                sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=handle, VisibilityTimeout=0)
            self.dead_letters.depth[name] = len(kept)
        return moved

    def plant_poison(self, week: str) -> None:
        """Messages that cannot succeed, each queue: an invalid body and a subscriber that does not exist."""
        assert self.aws is not None
        sqs = boto3.client("sqs")
        for name in ("collect", "digest"):
            for body in (
                json.dumps({"subscriber_id": "", "week": week}),
                json.dumps({"subscriber_id": f"sub-missing-{name}", "week": week}),
            ):
                self.dead_letters.planted.add(body)
                sqs.send_message(QueueUrl=self.aws.queue_urls[name], MessageBody=body)

    # -- checking ----------------------------------------------------------------------------

    def emails_by_recipient(self, kind: str) -> Counter[str]:
        """How many emails of ``kind`` ("digest" or "reconnect") each address got, from moto's outbox."""
        assert self.aws is not None
        counts: Counter[str] = Counter()
        for message in self.aws.sent_emails():
            subject = email.message_from_string(message.get("raw_data", ""), policy=email.policy.default)["Subject"]
            is_digest = str(subject or "").startswith(SUBJECT_PREFIX)
            if is_digest == (kind == "digest") and (is_digest or "Reconnect" in str(subject)):
                for address in set(message.get("destinations", [])):
                    counts[address] += 1
        return counts

    def digests_by_recipient(self) -> Counter[str]:
        return self.emails_by_recipient("digest")

    def check_week(self, week: str, before: Counter[str]) -> dict[str, Any]:
        assert self.aws is not None
        weeks, pop = self.services.repositories.weeks, self.population
        after = self.digests_by_recipient()
        sent = after - before
        by_sid = {sid: sent.get(email, 0) for sid, email in pop.emails.items()}
        duplicates = {sid: n for sid, n in by_sid.items() if n > 1}
        expected = [sid for sid in pop.receiving if sid not in (pop.revoked,)]
        missing: dict[str, str] = {}
        for sid in [*expected, pop.revoked]:
            if by_sid[sid] == 0:
                missing[sid] = self._reason(sid, week)
        for sid, why in pop.not_receiving.items():
            if by_sid[sid]:
                duplicates[sid] = by_sid[sid]  # mailed although it must not be
            missing[sid] = why
        spends = [s for s in (weeks.get_week_spend(sid, week) for sid in expected) if s]
        usd = sorted(s.total_usd for s in spends)
        requests = sorted(sum(s.requests.values()) for s in spends)
        x_meter = self._x_meter()
        return {
            "week": week,
            "due": len(expected),
            "digests_sent": sum(1 for sid in expected if by_sid[sid] == 1),
            "duplicates": duplicates,
            "missing": missing,
            "missing_without_reason": sorted(sid for sid, why in missing.items() if "NO RECORDED REASON" in why),
            "unreceiving_mailed": sorted(sid for sid in pop.not_receiving if by_sid[sid]),
            "reconnect_emails_to_revoked": self.emails_by_recipient("reconnect").get(pop.emails[pop.revoked], 0),
            "dead_letters": {name: queue_depth(self.aws.queue_urls[f"{name}-dlq"]) for name in ("collect", "digest")},
            "dead_letters_without_reason": self._dead_letters_without_reason(),
            "dlq_arrivals": self.dead_letters.summary(week),
            "x_resources_read_twice": sum(v.get("resource_ids_returned_twice", 0) for v in x_meter.values()),
            "x_requests_per_subscriber": _spread(requests),
            "x_cost_usd_per_subscriber": _spread(usd),
            "x_post_reads_per_subscriber": _spread(sorted(posts_read(s) for s in spends)),
            # X bills a resource once per app and UTC day: what different subscribers' reads of the same
            # resources came to, and what collecting them on seven different days would have billed
            "x_same_day_overlap": self.sim.meter.overlap() if self.sim else {},
        }

    def post_reads_per_cycle(self) -> dict[str, dict[str, Any]]:
        """The app's Post reads per billing cycle: as X counted them (deduplicated per UTC day, what its
        monthly cap counts) and as the app's own meter did (every Post a page returned, reserved first)."""
        assert self.sim is not None
        meter = self.services.repositories.post_reads
        return {
            cycle: {"x_counted": posts, **asdict(meter.post_reads(cycle))}
            for cycle, posts in sorted(self.sim.meter.posts_by_cycle().items())
        }

    def _dead_letters_without_reason(self) -> dict[str, int]:
        """Messages left in each DLQ that no handler gave a reason for (a redrive missed them)."""
        assert self.aws is not None
        sqs = boto3.client("sqs")
        left: dict[str, int] = {}
        for name in ("collect", "digest"):
            url, handles = self.aws.queue_urls[f"{name}-dlq"], []
            left[name] = 0
            while got := sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, MessageAttributeNames=["All"]
            ).get("Messages", []):
                handles += [m["ReceiptHandle"] for m in got]
                left[name] += sum(1 for m in got if "reason" not in m.get("MessageAttributes", {}))
            for handle in handles:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        return left

    def _reason(self, sid: str, week: str) -> str:
        """Why ``sid`` got no digest in ``week``: the week's record, else why it was not due at all."""
        stored = self.services.repositories
        status = stored.weeks.week_status(sid, week)
        if status:
            return f"{status[0]}: {status[1]}"
        profile = stored.subscribers.get_subscriber(sid)
        if profile is None:
            return "NO RECORDED REASON (no profile)"
        if profile.suppressed or stored.suppression.is_suppressed(profile.email):
            return "not dispatched: address suppressed after a bounce or complaint"
        if not profile.receives_digest:
            return f"not dispatched: status {profile.status}"
        return "NO RECORDED REASON"

    def bounce(self) -> None:
        """SES reports the bouncing address: its EventBridge event goes through the bounces function."""
        email = self.population.emails[self.population.bouncing]
        sample = json.loads((FUNCTIONS_DIR.parent / "events" / "bounce.json").read_text())
        detail = sample["detail"]
        detail["bounce"]["bouncedRecipients"][0]["emailAddress"] = email
        detail["mail"]["destination"] = [email]
        detail["mail"]["tags"] = {"subscriber": [self.population.bouncing]}
        self._invoke_timed("bounces", partial(invoke, "bounces", sample, services=self.services))

    def close(self) -> None:
        logging.getLogger("followthrough.pipeline.delivery").setLevel(getattr(self, "_delivery_log_level", 0))
        boto3._get_default_session().events.unregister("before-call.dynamodb", unique_id="soak-dynamodb-meter")
        if self.server:
            self.server.stop()
        if self.aws:
            self.aws.stop()


def _spread(values: list[float] | list[int]) -> dict[str, float]:
    if not values:
        return {"median": 0.0, "p95": 0.0, "max": 0.0}
    ordered = sorted(values)
    return {
        "median": round(float(statistics.median(ordered)), 4),
        "p95": round(float(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]), 4),
        "max": round(float(ordered[-1]), 4),
    }


def run_soak(config: SoakConfig, say: Callable[[str], None] = print, out: Path | None = None) -> dict[str, Any]:
    soak = Soak(config, say)
    weeks: list[dict[str, Any]] = []
    try:
        soak.start()
        assert soak.sim is not None
        for n in range(config.weeks):
            week_start = START + timedelta(days=7 * n)
            if n:
                soak.sim.advance_week(seed=config.seed + n)
            week = iso_week(week_start)
            soak.sim.meter.reset()
            before = soak.digests_by_recipient()
            with soak.faults():
                if config.plant_poison:
                    soak.plant_poison(week)
                soak.cycle(week_start, f"week {week} (faults on)")
            redriven = soak.redrive_dead_letters()
            soak.cycle(week_start, f"week {week} (faults off, {sum(map(len, redriven.values()))} redriven)")
            result = soak.check_week(week, before)
            result["redriven_from_dlq"] = redriven
            weeks.append(result)
            soak.progress(
                f"week {week} done: {result['digests_sent']}/{result['due']} digests, "
                f"{len(result['duplicates'])} duplicates",
                force=True,
            )
            if n == 0:
                soak.bounce()
        subscribers = max(len(soak.population.receiving), 1)
        summary = {
            "config": asdict(config),
            "weeks": weeks,
            "faults": {
                "x": {"rate": config.x_fault_rate, "truncate_rate": config.x_truncate_rate},
                "aws_injected": dict(soak.aws_faults.injected),
                "handler_crashes": soak.meters.crashes,
                "crashes_in_send": soak.meters.crashes_in_send,
            },
            "lambda_cpu_s_per_subscriber": round(soak.meters.cpu_s / subscribers / config.weeks, 4),
            "dynamodb_per_subscriber_week": soak.dynamodb_per_subscriber_week(subscribers * config.weeks),
            "invocations": dict(soak.meters.invocations),
            "record_failures": dict(soak.meters.record_failures.most_common()),
            # every message that reached a DLQ while the soak ran, with its cause
            "dlq_arrivals": soak.dead_letters.summary(),
            "dlq_arrival_list": soak.dead_letters.arrivals,
            "wall_s": round(time.monotonic() - soak.started, 1),
            # the X stand-in regenerates accounts from their seeds, keeping the most recently read within a budget
            "accounts_regenerated": soak.sim.accounts.regenerated,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "x_post_reads_per_billing_cycle": soak.post_reads_per_cycle(),
        }
        if out is not None:  # before shutting down: an hour's numbers must survive a failed shutdown
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(summary, indent=2, default=str))
    finally:
        soak.close()
    return summary
