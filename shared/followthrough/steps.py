"""The weekly steps, wired to AWS and X from the settings: what each Lambda handler calls.

Everything is built on first use, never at import time, so tests can start
moto first and cold starts stay short. For the same reason each step imports
its modules inside the function that needs them: the sign-up API never loads
the analysis, the collector never loads the sign-up pages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from followthrough.config import Settings, settings

if TYPE_CHECKING:
    from followthrough.adapters.mailer import Mailer
    from followthrough.adapters.queue import Queue
    from followthrough.adapters.store import Store
    from followthrough.adapters.x import XClient, XOAuth
    from followthrough.messages import CollectRequest, DigestRequest
    from followthrough.pipeline.bounces import SesNotification
    from followthrough.pipeline.collect import Collector, CollectResult
    from followthrough.pipeline.digest import DigestSender
    from followthrough.pipeline.dispatch import DispatchResult
    from followthrough.pipeline.tokens import TokenKeeper
    from followthrough.signup.service import SignupService
    from followthrough.subscriber import Subscriber

log = logging.getLogger(__name__)
metrics = Metrics(namespace="Followthrough")

def wall_clock() -> datetime:
    return datetime.now(UTC)


_clock: list[Callable[[], datetime]] = [wall_clock]


def now() -> datetime:
    """The time the steps act at: the wall clock, or a simulation's clock in local runs."""
    return _clock[0]()


def set_clock(clock: Callable[[], datetime]) -> None:
    _clock[0] = clock


MAX_REQUEUES = 20
# template.yaml alarms on this metric (dimension service=collect)
CREDITS_METRIC = "XCreditsExhausted"
IDEMPOTENCY_DAYS = 35
# The idempotency records' key prefix: fixed (not Powertools' default, the function's name), so that the sign-up
# function can find and delete a subscriber's records when they delete everything.
DIGEST_IDEMPOTENCY_PREFIX = "followthrough-digest"


@cache
def store() -> Store:
    from followthrough.adapters.store import Store

    return Store(settings().table_name)


@cache
def mailer() -> Mailer:
    from followthrough.adapters.mailer import Mailer

    config = settings()
    return Mailer(sender=config.sender_email, configuration_set=config.ses_configuration_set)


def oauth(config: Settings | None = None, redirect_uri: str = "") -> XOAuth:
    from followthrough.adapters.x import XOAuth

    config = config or settings()
    return XOAuth(client_id=config.x_client_id, client_secret=config.x_client_secret,
                  base_url=config.x_api_base_url, redirect_uri=redirect_uri, now=lambda: now().timestamp())


def x_client(access_token: str) -> XClient:
    from followthrough.adapters.x import XClient

    config = settings()
    return XClient(access_token, base_url=config.x_api_base_url, backoff_s=config.x_retry_backoff_s)


@cache
def token_keeper() -> TokenKeeper:
    from followthrough.adapters.tokens import cipher_for
    from followthrough.pipeline.tokens import TokenKeeper

    config = settings()
    return TokenKeeper(store=store(), cipher=cipher_for(config.token_kms_key_id, config.signing_key),
                       oauth=oauth(config), now=now)


def send_reconnect_email(subscriber: Subscriber) -> None:
    from followthrough.email import build_message

    config = settings()
    if store().is_suppressed(subscriber.email):
        log.info("reconnect email not sent: address suppressed", extra={"subscriber_id": subscriber.subscriber_id})
        return
    text = ("Hello,\n\nX no longer accepts the connection Followthrough had to your account, so this week's "
            "digest could not be made. Sign in again to reconnect (it takes a minute):\n\n"
            f"{str(config.public_base_url).rstrip('/')}/\n\nUntil then we will not try again or write again.\n")
    raw = build_message(sender=config.sender_email, recipient=subscriber.email,
                        subject="Reconnect your X account to keep your weekly digest", text=text)
    mailer().send(subscriber.email, raw)


def signup_service() -> SignupService:
    """The sign-up and subscriber lifecycle (built per request from the cached clients: it holds no state)."""
    from followthrough.signup.service import SignupService

    config = settings()
    base = str(config.public_base_url).rstrip("/")
    return SignupService(
        store=store(), oauth=oauth(config, redirect_uri=f"{base}/oauth/callback"), make_client=x_client,
        tokens=token_keeper(), mailer=mailer(), public_base_url=base, signing_key=config.signing_key, now=now,
        confirmation_cooldown_s=config.confirmation_cooldown_s, forget_sent_digests=forget_sent_digests,
    )


@cache
def collector() -> Collector:
    from followthrough.pipeline.collect import Collector

    return Collector(store=store(), tokens=token_keeper(), make_client=x_client, config=settings().collector,
                     send_reconnect_email=send_reconnect_email, now=now)


@cache
def collect_queue() -> Queue:
    from followthrough.adapters.queue import Queue

    return Queue(settings().collect_queue_url)


@cache
def digest_queue() -> Queue:
    from followthrough.adapters.queue import Queue

    return Queue(settings().digest_queue_url)


def reset() -> None:
    """Forget every client and service built so far (after the environment changed)."""
    settings.cache_clear()
    for factory in (store, mailer, token_keeper, collector, collect_queue, digest_queue, digest_sender,
                    _idempotency_config, _send_once):
        factory.cache_clear()


def run_dispatch(at: datetime) -> DispatchResult:
    from followthrough.pipeline.dispatch import dispatch

    result = dispatch(store(), collect_queue(), at)
    metrics.add_metric(name="SubscribersQueued", unit=MetricUnit.Count, value=result.queued)
    return result


def run_collect(request: CollectRequest) -> CollectResult:
    """Collect one subscriber-week, then queue the digest, or the same work again after X's rate limit."""
    from followthrough.messages import DigestRequest

    result = collector().run(request)
    if result.status == "collected":
        digest_queue().send(DigestRequest(subscriber_id=request.subscriber_id, week=request.week))
    elif result.status == "rate_limited":
        if request.requeues >= MAX_REQUEUES:
            raise RuntimeError(f"subscriber {request.subscriber_id} still rate-limited after {MAX_REQUEUES} requeues")
        collect_queue().send(request.model_copy(update={"requeues": request.requeues + 1}),
                             delay_seconds=min(result.retry_in_s, settings().max_requeue_delay_s))
    elif result.status == "credits_exhausted":
        metrics.add_metric(name=CREDITS_METRIC, unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"Collect_{result.status}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="XSpendMilliUSD", unit=MetricUnit.Count, value=round(result.spend.total_usd * 1000))
    log.info("collected", extra={"subscriber_id": result.subscriber_id, "week": result.week,
                                 "status": result.status, "spend_usd": result.spend.total_usd,
                                 "counts": result.counts})
    return result


@cache
def digest_sender() -> DigestSender:
    from followthrough.pipeline.digest import DigestSender

    config = settings()
    return DigestSender(store=store(), mailer=mailer(), public_base_url=str(config.public_base_url),
                        signing_key=config.signing_key, now=now)


@cache
def _idempotency_config() -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(event_key_jmespath="[subscriber_id, week]",
                             expires_after_seconds=IDEMPOTENCY_DAYS * 86400,
                             raise_on_no_idempotency_key=True)


def _digest_persistence() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from followthrough.adapters.store import RETRIES

    return DynamoDBPersistenceLayer(
        table_name=settings().table_name, key_attr="pk", sort_key_attr="sk",
        static_pk_value="IDEMPOTENCY#digest", expiry_attr="ttl", boto_config=RETRIES,
    )


def forget_sent_digests(subscriber_id: str, weeks: list[str]) -> None:
    """Delete the idempotency records of these weeks' digests (their results name the subscriber): part of
    "delete everything". Powertools computes the keys, as it does when it writes them."""
    from followthrough.messages import DigestRequest

    persistence = _digest_persistence()
    persistence.configure(_idempotency_config(), key_prefix=DIGEST_IDEMPOTENCY_PREFIX)
    for week in weeks:
        request = DigestRequest(subscriber_id=subscriber_id, week=week).model_dump()
        persistence.delete_record(request, exception=LookupError("the subscriber deleted everything"))


@cache
def _send_once() -> Any:
    """``DigestSender.send`` behind Powertools idempotency, keyed by subscriber and ISO week.

    A redelivered message, a retried Lambda or a second scheduled run finds the
    completed record and returns its stored result instead of mailing again;
    a send that raised leaves no record, so its retry still sends once.
    """
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    @idempotent_function(data_keyword_argument="request", persistence_store=_digest_persistence(),
                         config=_idempotency_config(), key_prefix=DIGEST_IDEMPOTENCY_PREFIX)
    def send(request: DigestRequest) -> dict[str, Any]:
        return asdict(digest_sender().send(request))

    return send


def run_digest(request: DigestRequest, context: Any = None) -> dict[str, Any]:
    if context is not None:
        # an in-progress record then expires with the invocation, so a crashed
        # send is retried instead of being blocked for weeks
        _idempotency_config().register_lambda_context(context)
    result: dict[str, Any] = _send_once()(request=request)
    metrics.add_metric(name=f"Digest_{result['outcome']}", unit=MetricUnit.Count, value=1)
    log.info("digest", extra={"subscriber_id": request.subscriber_id, "week": request.week,
                              "outcome": result["outcome"], "reason": result["reason"]})
    return result


def run_bounce(notifications: list[SesNotification]) -> dict[str, Any]:
    """SES bounces and complaints: suppress the addresses, stop those subscribers' weekly runs."""
    from followthrough.pipeline.bounces import FeedbackRecorder

    result = FeedbackRecorder(store=store()).record(notifications)
    metrics.add_metric(name="AddressesSuppressed", unit=MetricUnit.Count, value=result.suppressed)
    log.info("ses feedback", extra={"suppressed": result.suppressed, "ignored": result.ignored,
                                    "subscribers_stopped": result.subscribers_stopped})
    return asdict(result)
