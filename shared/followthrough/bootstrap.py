"""The composition root: the product's services, built once from validated settings and handed on.

``Services`` holds the settings, the one clock and the Powertools metrics, and
builds each adapter and use case the first time it is asked for; no client is
created (and neither boto3 nor tweepy imported) before a use case needs one,
so importing this module, or a handler, stays cheap and a cold start pays
only for what its function uses. Each Lambda handler is made by
``lambda_handler(build)``: on the first event it builds the services from the
environment (a missing deploy-critical setting fails there, naming the
variable) and hands them to ``build``; the dev kit builds its own services
(its settings, the simulation's clock) and hands them to the same ``build``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from followthrough.config import Settings, load_settings

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

    from followthrough.adapters.mailer import Mailer
    from followthrough.adapters.queue import Queue, Redelivery
    from followthrough.adapters.store import Repositories
    from followthrough.adapters.tokens import TokenCipher
    from followthrough.adapters.x import XActivityApi, XClient, XOAuth
    from followthrough.pipeline.activity_api import Subscriptions, Webhook
    from followthrough.pipeline.bounces import BounceStep
    from followthrough.pipeline.collect import Collector, CollectStep, ReconnectEmail
    from followthrough.pipeline.digest import DigestSender, DigestStep
    from followthrough.pipeline.dispatch import DispatchStep
    from followthrough.pipeline.postcap import PostCap
    from followthrough.pipeline.tokens import TokenKeeper
    from followthrough.signup.service import SignupService

Clock = Callable[[], datetime]
Handler = Callable[[Any, Any], Any]

METRICS_NAMESPACE = "Followthrough"
PACKAGE = "followthrough"


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Services:
    """Every service the functions use, each built on first use from ``settings``, all on one ``clock``."""

    def __init__(self, settings: Settings, clock: Clock = wall_clock) -> None:
        self.settings = settings
        self.clock = clock
        self._redeliveries: dict[str, Redelivery] = {}

    def now(self) -> datetime:
        return self.clock()

    @cached_property
    def metrics(self) -> Metrics:
        from aws_lambda_powertools import Metrics

        return Metrics(namespace=METRICS_NAMESPACE)

    def count_failed_records(self, response: dict[str, Any]) -> dict[str, Any]:
        """A batch handler's response, its failed records counted: Lambda does not count them as errors, so the
        metric is what brings them to an alarm within minutes (published only when there are failures)."""
        from aws_lambda_powertools.metrics import MetricUnit

        from followthrough.messages import RECORD_FAILURES_METRIC

        if failed := len(response["batchItemFailures"]):
            self.metrics.add_metric(name=RECORD_FAILURES_METRIC, unit=MetricUnit.Count, value=failed)
        return response

    # -- adapters ------------------------------------------------------------------------------

    @cached_property
    def repositories(self) -> Repositories:
        from followthrough.adapters.store.dynamo import dynamo_repositories

        return dynamo_repositories(self.settings.require("table_name"), self.clock)

    @cached_property
    def mailer(self) -> Mailer:
        from followthrough.adapters.mailer import Mailer

        return Mailer(
            sender=self.settings.require("sender_email"), configuration_set=self.settings.ses_configuration_set
        )

    def oauth(self, redirect_uri: str = "") -> XOAuth:
        from followthrough.adapters.x import XOAuth

        return XOAuth(
            client_id=self.settings.require("x_client_id"),
            client_secret=self.settings.x_client_secret,
            base_url=self.settings.x_api_base_url,
            redirect_uri=redirect_uri,
            now=lambda: self.clock().timestamp(),
        )

    def x_client(self, access_token: str) -> XClient:
        from followthrough.adapters.x import XClient

        return XClient(access_token, base_url=self.settings.x_api_base_url, backoff_s=self.settings.x_retry_backoff_s)

    @property
    def receives_activity_events(self) -> bool:
        """Whether X Activity API events come to this deployment (a webhook is registered with X)."""
        return bool(self.settings.x_webhook_id)

    @cached_property
    def x_activity(self) -> XActivityApi:
        from followthrough.adapters.x import XActivityApi

        return XActivityApi(
            app_bearer_token=self.settings.require("x_app_bearer_token"),
            webhook_id=self.settings.require("x_webhook_id"),
            base_url=self.settings.x_api_base_url,
        )

    @cached_property
    def collect_queue(self) -> Queue:
        from followthrough.adapters.queue import Queue

        return Queue(self.settings.require("collect_queue_url"))

    @cached_property
    def digest_queue(self) -> Queue:
        from followthrough.adapters.queue import Queue

        return Queue(self.settings.require("digest_queue_url"))

    @cached_property
    def cipher(self) -> TokenCipher:
        from followthrough.adapters.tokens import KmsCipher

        # the encryption context names the purpose and the subscriber a ciphertext belongs to
        return KmsCipher(self.settings.require("token_kms_key_id"))

    def redelivery(self, step: str) -> Redelivery:
        """The ``step`` queue's side of a failed record: backoff, or its DLQ with a reason (pipeline.delivery)."""
        from followthrough.adapters.queue import Redelivery

        if step not in self._redeliveries:
            queue, dead_letters = (
                (self.settings.collect_queue_url, self.settings.collect_dlq_url)
                if step == "collect"
                else (self.settings.digest_queue_url, self.settings.digest_dlq_url)
            )
            self._redeliveries[step] = Redelivery(
                queue or "",
                dead_letters,
                backoff_s=self.settings.retry_backoff_s,
                max_backoff_s=self.settings.max_retry_backoff_s,
            )
        return self._redeliveries[step]

    @cached_property
    def token_keeper(self) -> TokenKeeper:
        from followthrough.pipeline.tokens import TokenKeeper

        return TokenKeeper(stored=self.repositories.tokens, cipher=self.cipher, oauth=self.oauth(), now=self.clock)

    # -- use cases -----------------------------------------------------------------------------

    @cached_property
    def dispatch(self) -> DispatchStep:
        from followthrough.pipeline.dispatch import DispatchStep

        return DispatchStep(subscribers=self.repositories.subscribers, queue=self.collect_queue, metrics=self.metrics)

    @cached_property
    def reconnect_email(self) -> ReconnectEmail:
        from followthrough.pipeline.collect import ReconnectEmail

        return ReconnectEmail(
            suppression=self.repositories.suppression,
            mailer=self.mailer,
            sender=self.settings.require("sender_email"),
            public_base_url=self.settings.require("public_base_url"),
        )

    @cached_property
    def collector(self) -> Collector:
        from followthrough.pipeline.collect import Collector

        stored = self.repositories
        return Collector(
            subscribers=stored.subscribers,
            state=stored.collector_state,
            weeks=stored.weeks,
            tokens=self.token_keeper,
            make_client=self.x_client,
            config=self.settings.collector,
            send_reconnect_email=self.reconnect_email.send,
            now=self.clock,
            post_cap=self.post_cap,
            activity=stored.activity if self.receives_activity_events else None,
        )

    @cached_property
    def post_cap(self) -> PostCap:
        """The app-wide meter of X's monthly Post-read cap (the collector reserves; the sign-up dates first runs)."""
        from followthrough.pipeline.postcap import PostCap

        return PostCap(meter=self.repositories.post_reads, config=self.settings.post_cap, now=self.clock)

    @cached_property
    def collect(self) -> CollectStep:
        from followthrough.pipeline.collect import CollectStep

        return CollectStep(
            collector=self.collector,
            collect_queue=self.collect_queue,
            digest_queue=self.digest_queue,
            metrics=self.metrics,
            max_requeue_delay_s=self.settings.max_requeue_delay_s,
        )

    @cached_property
    def digest_sender(self) -> DigestSender:
        from followthrough.pipeline.digest import DigestSender

        return DigestSender(
            weeks=self.repositories.weeks,
            suppression=self.repositories.suppression,
            mailer=self.mailer,
            public_base_url=self.settings.require("public_base_url"),
            signing_key=self.settings.require("signing_key"),
            now=self.clock,
        )

    @cached_property
    def digest(self) -> DigestStep:
        from followthrough.pipeline.digest import DigestStep

        return DigestStep(
            sender=self.digest_sender, table_name=self.settings.require("table_name"), metrics=self.metrics
        )

    @cached_property
    def bounces(self) -> BounceStep:
        from followthrough.pipeline.bounces import BounceStep, FeedbackRecorder

        stored = self.repositories
        return BounceStep(
            recorder=FeedbackRecorder(subscribers=stored.subscribers, suppression=stored.suppression),
            metrics=self.metrics,
        )

    @cached_property
    def subscriptions(self) -> Subscriptions | None:
        """A confirmed subscriber's follow-event subscriptions; None when no webhook receives events."""
        if not self.receives_activity_events:
            return None
        from followthrough.pipeline.activity_api import Subscriptions

        settings = self.settings
        return Subscriptions(
            activity=self.repositories.activity,
            x=self.x_activity,
            # built on a subscribe only: the webhook unsubscribes without the token keeper's settings
            access_token=lambda subscriber_id: self.token_keeper.access_token(subscriber_id),
            limit=int(settings.activity_subscription_limit * settings.activity_subscription_share),
        )

    def unsubscribe_events(self, subscriber_id: str) -> None:
        if self.subscriptions is not None:
            self.subscriptions.unsubscribe(subscriber_id)

    @cached_property
    def webhook(self) -> Webhook:
        """X's webhook: CRC answers, signed events stored, revocations marked."""
        from followthrough.pipeline.activity_api import Webhook
        from followthrough.pipeline.collect import needs_reauth

        stored = self.repositories
        return Webhook(
            consumer_secret=self.settings.require("x_consumer_secret"),
            signups=stored.signups,
            subscribers=stored.subscribers,
            activity=stored.activity,
            mark_revoked=lambda subscriber: needs_reauth(
                stored.subscribers, self.reconnect_email.send, subscriber, self.clock()
            ),
            unsubscribe=self.unsubscribe_events,
            now=self.clock,
        )

    @cached_property
    def signup(self) -> SignupService:
        """The sign-up and subscriber lifecycle (it holds no state between requests)."""
        from followthrough.signup.service import SignupService

        base = self.settings.require("public_base_url")
        return SignupService(
            subscribers=self.repositories.subscribers,
            signups=self.repositories.signups,
            stored_tokens=self.repositories.tokens,
            suppression=self.repositories.suppression,
            weeks=self.repositories.weeks,
            collected=self.repositories.collector_state,
            oauth=self.oauth(redirect_uri=f"{base}/oauth/callback"),
            make_client=self.x_client,
            tokens=self.token_keeper,
            mailer=self.mailer,
            public_base_url=base,
            signing_key=self.settings.require("signing_key"),
            now=self.clock,
            confirmation_cooldown_s=self.settings.confirmation_cooldown_s,
            # built on a "delete everything" only: the digest step is not loaded for the other routes
            forget_sent_digests=lambda subscriber_id, weeks: self.digest.forget_sent_digests(subscriber_id, weeks),
            first_run_from=self.post_cap.first_run_from,
            subscribe_events=lambda subscriber: self.subscriptions and self.subscriptions.subscribe(subscriber),
            unsubscribe_events=self.unsubscribe_events,
            follow_events=self.repositories.activity.follow_events,
        )


def from_environment(environ: Mapping[str, str] | None = None, clock: Clock = wall_clock) -> Services:
    """Services from the process's environment (secrets named by SSM parameter are read here, once)."""
    return Services(load_settings(os.environ if environ is None else environ), clock)


def log_through(logger: Logger) -> None:
    """The product's module loggers (``followthrough.*``) write through the function's Powertools ``logger``:
    the same JSON lines, with its ``cold_start``, ``function_name`` and ``correlation_id``.

    Only the product's own loggers: botocore's and Powertools' keep the levels ``logs.quiet_sdk_loggers`` pins.
    """
    import logging

    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    logging.getLogger(PACKAGE)  # registered even before a module of the package has logged
    copy_config_to_registered_loggers(source_logger=logger, include={PACKAGE})


def lambda_handler(build: Callable[[Services], Handler]) -> Handler:
    """A Lambda entry point: on the first event, services from the environment, handed to ``build``; once."""
    built: list[Handler] = []

    def handler(event: Any, context: Any) -> Any:
        if not built:
            built.append(build(from_environment()))
        return built[0](event, context)

    return handler
