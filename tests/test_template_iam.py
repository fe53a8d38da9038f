"""Each function, run through a representative scenario under moto with exactly the environment
template.yaml gives it: the settings it reads are all set, and its role allows the AWS actions it
calls, on the resources it calls them on, and nothing else.

Only what happens inside a handler invocation is recorded (setting up the
scenario and playing Lambda's SQS poller are not the function's doing), and
every invocation starts like a cold start: no cached settings or clients.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from fnmatch import fnmatchcase
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.client
import pytest
import requests
from moto import mock_aws
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from followthrough import config, links
from followthrough.adapters import mailer as mailer_module
from followthrough.adapters.x import TokenSet
from followthrough.bootstrap import Clock, Services, from_environment, wall_clock
from followthrough.cursors import Spend
from followthrough.messages import CollectRequest, DigestRequest
from followthrough.report import Conversation, PassiveFollow, WeeklyReport
from followthrough.subscriber import Subscriber
from followthrough_devkit.aws import LocalAws, create_resources
from followthrough_devkit.lambda_runtime import drain, load_function, scheduled_event
from followthrough_devkit.xsim import XSim, XSimServer, generate_account
from tests.support.aws import for_in_process_moto, outbox
from tests.support.factories import MONDAY_8, subscriber
from tests.support.template import (
    ACCOUNT,
    FUNCTION_IDS,
    REGION,
    Intrinsics,
    iter_statements,
    parameter_defaults,
    ref_id,
    resources_of,
    translated,
)

# the template tier (`make template`): the template itself, translated, deployed into moto and run
pytestmark = pytest.mark.template

# Settings whose defaults are right in AWS too, so the template may leave them unset.
PRODUCTION_DEFAULTS = {
    "X_API_BASE_URL",
    "FIRST_RUN_BUDGET_USD",
    "FOLLOWEE_REREAD_USD_PER_WEEK",
    "MAX_REQUEUE_DELAY_S",
    "X_RETRY_BACKOFF_S",
    "CONFIRMATION_COOLDOWN_S",
    "RETRY_BACKOFF_S",
    "MAX_RETRY_BACKOFF_S",
    "X_POST_CAP_PACE_DAYS",
    "X_FIRST_RUN_POST_READS",
}
# Settings only the local tools read; a Lambda function never should.
LOCAL_ONLY = {"PORT"}
# Set by the tests' harness, not by the template: where the X stand-in listens, X's 5xx retried without waiting.
HARNESS_ENV = {"X_API_BASE_URL", "POWERTOOLS_METRICS_DISABLED", "X_RETRY_BACKOFF_S"}

SENDER = "digest@followthrough.example"
X_CLIENT_ID = "followthrough-deployed"
X_CLIENT_SECRET = "x-client-secret-from-ssm"
SIGNING_KEY = "signing-key-from-ssm-" + "k" * 32
X_CONSUMER_SECRET = "x-consumer-secret-from-ssm"
X_APP_BEARER = "x-app-bearer-token-from-ssm"
API_ID = "a1b2c3d4e5"
CONFIGURATION_SET = "followthrough-email"
ALL_SETTING_VARS = (
    set(config.env_names(config.Settings)) | set(config.env_names(config.CollectorConfig)) | set(config._SECRET_PARAMS)
)


# -- recording ---------------------------------------------------------------------------------


@dataclass
class Call:
    service: str  # the IAM prefix (botocore's signing name)
    operation: str
    params: dict[str, Any]
    response: dict[str, Any]


@dataclass
class Recording:
    calls: list[Call] = field(default_factory=list)
    settings_read: set[str] = field(default_factory=set)
    active: bool = False


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Recording:
    """Records AWS calls (every botocore client, however made) and the settings read, while active."""
    rec = Recording()
    original_call = botocore.client.BaseClient._make_api_call

    def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        response = original_call(client, operation, params)
        if rec.active:
            rec.calls.append(Call(client.meta.service_model.signing_name, operation, dict(params), dict(response)))
        return response

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    env_of = {field_name: env for env, field_name in config.env_names(config.Settings).items()}
    collector_env_of = {field_name: env for env, field_name in config.env_names(config.CollectorConfig).items()}
    post_cap_env_of = {field_name: env for env, field_name in config.env_names(config.PostCapConfig).items()}

    def watching(model: type, names: dict[str, str]) -> Callable[[Any, str], Any]:
        def getattribute(self: Any, name: str) -> Any:
            if rec.active and name in names:
                rec.settings_read.add(names[name])
            return object.__getattribute__(self, name)

        return getattribute

    monkeypatch.setattr(config.Settings, "__getattribute__", watching(config.Settings, env_of))
    monkeypatch.setattr(config.CollectorConfig, "__getattribute__", watching(config.CollectorConfig, collector_env_of))
    monkeypatch.setattr(config.PostCapConfig, "__getattribute__", watching(config.PostCapConfig, post_cap_env_of))
    return rec


# -- the deployment under moto -----------------------------------------------------------------


@dataclass
class Deployment:
    """The template's resources in moto, and what its intrinsics resolve to there."""

    aws: LocalAws
    values: Intrinsics
    template: dict[str, Any]
    recording: Recording
    monkeypatch: pytest.MonkeyPatch
    extra_env: dict[str, str] = field(default_factory=dict)
    clock: Clock = wall_clock
    services: Services | None = None

    @property
    def sandbox(self) -> bool:
        return self.values.condition("InSesSandbox")

    def environment(self, logical_id: str) -> dict[str, str]:
        variables = self.template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        return {k: str(v) for k, v in self.values.resolve(variables).items()}

    def become(self, logical_id: str) -> None:
        """This process now has the function's environment (and the harness's), nothing else of ours."""
        for name in ALL_SETTING_VARS | {k for k in os.environ if k.startswith("POWERTOOLS_")}:
            self.monkeypatch.delenv(name, raising=False)
        for name, value in {**self.environment(logical_id), **self.extra_env}.items():
            self.monkeypatch.setenv(name, value)
        self.services = from_environment(clock=self.clock)  # the scenario's own, for setting up

    def function(self, logical_id: str) -> ModuleType:
        """The handler module, its handlers recording what each invocation does, each a cold start (services
        built from the function's environment inside the invocation, whatever the caller hands ``build``)."""
        module = load_function(
            self.template["Resources"][logical_id]["Properties"]["FunctionName"]["Fn::Sub"].removeprefix(
                "${AWS::StackName}-"
            )
        )
        build = module.build

        def recorded(event: dict[str, Any], context: Any) -> Any:
            self.recording.active = True
            try:
                return build(from_environment(clock=self.clock))(event, context)
            finally:
                self.recording.active = False

        module.handler = recorded
        module.build = lambda _services: recorded
        return module

    def queue_url(self, logical_id: str) -> str:
        return self.values.ref(logical_id)

    def send(self, queue_logical_id: str, body: str) -> None:
        boto3.client("sqs").send_message(QueueUrl=self.queue_url(queue_logical_id), MessageBody=body)


def _queue_name(logical_id: str) -> str:
    """The local queue name (local/aws.py) of a queue in the template: CollectQueue -> collect."""
    if logical_id.endswith("DeadLetterQueue"):
        return logical_id.removesuffix("DeadLetterQueue").lower() + "-dlq"
    return logical_id.removesuffix("Queue").lower()


def _physical_values(aws: LocalAws, template: dict[str, Any], parameters: dict[str, str]) -> Intrinsics:
    refs: dict[str, str] = parameter_defaults(
        **{"SenderEmail": aws.sender_email, "XClientId": X_CLIENT_ID, **parameters}
    )
    attrs: dict[str, str] = {}
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    sqs = boto3.client("sqs")
    for logical_id in resources_of(template, "AWS::SQS::Queue"):
        name = _queue_name(logical_id)
        url = aws.queue_urls.get(name) or sqs.create_queue(QueueName=name)["QueueUrl"]
        refs[logical_id] = url
        attrs[f"{logical_id}.Arn"] = arn.format("sqs", name)
        attrs[f"{logical_id}.QueueName"] = name
    refs["Table"] = aws.table_name
    attrs["Table.Arn"] = arn.format("dynamodb", f"table/{aws.table_name}")
    key = boto3.client("kms").create_key(Description="tokens")["KeyMetadata"]
    refs["TokenKey"], attrs["TokenKey.Arn"] = key["KeyId"], key["Arn"]
    boto3.client("ses").create_configuration_set(ConfigurationSet={"Name": CONFIGURATION_SET})
    refs["EmailConfigurationSet"] = CONFIGURATION_SET
    refs["HttpApi"] = API_ID
    for logical_id in resources_of(template, "AWS::SNS::Topic"):
        refs[logical_id] = arn.format("sns", logical_id)
    values = Intrinsics(refs, attrs)
    for logical_id, group in resources_of(template, "AWS::Logs::LogGroup").items():
        name = values.resolve(group["Properties"]["LogGroupName"])
        refs[logical_id] = name
        attrs[f"{logical_id}.Arn"] = arn.format("logs", f"log-group:{name}:*")
    for logical_id, function in resources_of(template, "AWS::Lambda::Function").items():
        name = values.resolve(function["Properties"]["FunctionName"])
        refs[logical_id] = name
        attrs[f"{logical_id}.Arn"] = arn.format("lambda", f"function:{name}")
    ssm = boto3.client("ssm")
    for parameter, secret in (
        ("XClientSecretParameter", X_CLIENT_SECRET),
        ("SigningKeyParameter", SIGNING_KEY),
        ("XConsumerSecretParameter", X_CONSUMER_SECRET),
        ("XAppBearerTokenParameter", X_APP_BEARER),
    ):
        ssm.put_parameter(Name=refs[parameter], Value=secret, Type="SecureString")
    return Intrinsics(refs, attrs)


@dataclass
class SesSetup:
    """The account's SES as a deployment meets it: sender, verified identities, template parameters."""

    sender: str = SENDER
    verified: tuple[str, ...] = (SENDER,)
    parameters: dict[str, str] = field(default_factory=dict)
    sandbox: bool = False  # moto does not model the sandbox: ses_as_aws() adds it


@pytest.fixture
def ses_setup() -> SesSetup:
    return SesSetup()


def ses_as_aws(monkeypatch: pytest.MonkeyPatch, sandbox: bool) -> None:
    """moto's SES with two rules of the real one it lacks: a verified domain covers its subdomains
    (docs.aws.amazon.com/ses/latest/dg/creating-identities.html), and in the sandbox every recipient
    must be a verified identity too (verify-addresses-and-domains.html), refused with MessageRejected."""
    from moto.ses.exceptions import MessageRejectedError
    from moto.ses.models import SESBackend

    def is_verified(self: SESBackend, source: str) -> bool:
        address = source.rsplit("<", 1)[-1].rstrip(">")
        return any(identity in self.email_identities for identity in identity_candidates(address))

    monkeypatch.setattr(SESBackend, "_is_verified_address", is_verified)
    if sandbox:
        real_send = SESBackend.send_raw_email

        def send_raw_email(self: SESBackend, source: str, destinations: list[str], raw_data: str) -> Any:
            unverified = [d for d in destinations if not is_verified(self, d)]
            if unverified:
                raise MessageRejectedError(
                    "Email address is not verified. The following identities failed "
                    f"the check in region {REGION.upper()}: {', '.join(unverified)}"
                )
            return real_send(self, source, destinations, raw_data)

        monkeypatch.setattr(SESBackend, "send_raw_email", send_raw_email)


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch, recording: Recording, ses_setup: SesSetup) -> Iterator[Deployment]:
    for_in_process_moto(monkeypatch)
    ses_as_aws(monkeypatch, ses_setup.sandbox)
    with mock_aws():
        # a table name unlike the local default, so a missing TABLE_NAME cannot go unnoticed
        aws = create_resources(
            LocalAws(endpoint_url="", table_name="followthrough-deployed", sender_email=ses_setup.sender)
        )
        ses = boto3.client("ses")
        ses.delete_identity(Identity=ses_setup.sender)
        for identity in ses_setup.verified:
            if "@" in identity:
                ses.verify_email_identity(EmailAddress=identity)
            else:
                ses.verify_domain_identity(Domain=identity)
        template = translated()
        yield Deployment(
            aws,
            _physical_values(aws, template, ses_setup.parameters),
            template,
            recording,
            monkeypatch,
            extra_env={"POWERTOOLS_METRICS_DISABLED": "true", "X_RETRY_BACKOFF_S": "0"},
        )


# -- scenarios ---------------------------------------------------------------------------------


@pytest.fixture
def x_world(deployment: Deployment) -> Iterator[XSim]:
    sim = XSim(anchor=MONDAY_8, realtime=False)
    server = XSimServer(sim).start()
    deployment.extra_env["X_API_BASE_URL"] = server.base_url
    sim.register_client(X_CLIENT_ID, X_CLIENT_SECRET)
    deployment.clock = sim.now
    yield sim
    server.stop()


WEBHOOK_ID = "1234567890"


def _events_on(d: Deployment, sim: XSim) -> bool:
    """With ``XWebhookId`` set: the stand-in's Activity API has that webhook and the app's bearer token."""
    if not d.values.condition("ReceivesActivityEvents"):
        return False
    from followthrough_devkit.xsim.activity import Webhook

    sim.activity.app_bearer_token = X_APP_BEARER
    sim.activity.webhooks[WEBHOOK_ID] = Webhook(WEBHOOK_ID, "https://hooks.example/x/webhook", True, sim.now())
    return True


def scenario_dispatch(d: Deployment, sim: XSim) -> None:
    d.become("DispatchFunction")
    d.services.repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    result = d.function("DispatchFunction").handler(scheduled_event(MONDAY_8), _context("dispatch"))
    assert result["queued"] == 1


def scenario_collect(d: Deployment, sim: XSim) -> None:
    d.become("CollectFunction")
    user_id = sim.add_account(generate_account(11, "small", anchor=sim.now()))
    account = sim.accounts[user_id]
    sub = Subscriber(
        subscriber_id="sub-x",
        email="person@example.com",
        x_user_id=user_id,
        username=account.me.username,
        status="active",
        email_confirmed=True,
        digest_day=0,
        digest_hour=8,
        time_zone="UTC",
        created_at=sim.now(),
    )
    d.services.repositories.subscribers.put_subscriber(sub, reference=sim.now())
    access, refresh = sim.issue_tokens(user_id)
    d.services.token_keeper.save(
        sub.subscriber_id, TokenSet(access, refresh, sim.now().timestamp() + 7200), expected_version=None
    )
    module = d.function("CollectFunction")
    request = CollectRequest(subscriber_id=sub.subscriber_id, week="2026-W48")

    # X unavailable through the client's retries: the record comes back later (its backoff)
    sim.faults.inject("users_me", 503, times=3)
    d.send("CollectQueue", request.model_dump_json())
    drain("collect", d.queue_url("CollectQueue"), module=module)

    # a request for nobody: to the dead-letter queue, with its reason
    d.send("CollectQueue", CollectRequest(subscriber_id="sub-gone", week="2026-W48").model_dump_json())
    drain("collect", d.queue_url("CollectQueue"), module=module)

    # X's rate limit mid-way: the work goes back on the collect queue
    sim.faults.inject("liked_tweets", 429, after=1, reset_in=60)
    d.send("CollectQueue", request.model_dump_json())
    drain("collect", d.queue_url("CollectQueue"), module=module)
    assert d.services.repositories.weeks.week_status(sub.subscriber_id, "2026-W48")[0] == "rate_limited"  # type: ignore[index]

    # three hours on, the access token has expired: refreshed, re-encrypted, and the week finishes
    sim.advance(timedelta(hours=3))
    d.send("CollectQueue", request.model_copy(update={"requeues": 1}).model_dump_json())
    drain("collect", d.queue_url("CollectQueue"), module=module)
    assert d.services.repositories.weeks.get_week(sub.subscriber_id, "2026-W48") is not None

    # a steady week: only what is new, within the weekly budget, and the digest is queued
    sim.advance_week(seed=5)
    d.send("CollectQueue", CollectRequest(subscriber_id=sub.subscriber_id, week="2026-W49").model_dump_json())
    drain("collect", d.queue_url("CollectQueue"), module=module)
    assert d.services.repositories.weeks.get_week(sub.subscriber_id, "2026-W49") is not None

    # the subscriber revoked the app: one reconnect email
    sim.revoke(user_id)
    d.send("CollectQueue", CollectRequest(subscriber_id=sub.subscriber_id, week="2026-W50").model_dump_json())
    drain("collect", d.queue_url("CollectQueue"), module=module)
    assert [set(m.destinations) for m in outbox()] == [{sub.email}]


def scenario_digest(d: Deployment, sim: XSim) -> None:
    d.become("DigestFunction")
    week = "2026-W48"
    d.services.repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    report = WeeklyReport(
        subscriber_id="sub-1",
        username="person1",
        week=week,
        generated_at=MONDAY_8,
        passive_follows=[PassiveFollow(user_id="77", username="quiet_one", reasons=["never"])],
        conversations=[
            Conversation(
                kind="greet_followee",
                user_id="77",
                username="quiet_one",
                url="https://x.com/quiet_one",
                reason="Say hello.",
            )
        ],
    )
    d.services.repositories.weeks.put_week("sub-1", week, report, Spend())
    module = d.function("DigestFunction")

    # SES fails once: the idempotency record is released and the retry sends, once
    real_send = mailer_module.Mailer.send
    failures = [ConnectionError("SES hiccup")]

    def flaky(self: Any, recipient: str, raw: bytes) -> str:
        if failures:
            raise failures.pop()
        return real_send(self, recipient, raw)

    d.monkeypatch.setattr(mailer_module.Mailer, "send", flaky)
    for _ in range(2):
        d.send("DigestQueue", DigestRequest(subscriber_id="sub-1", week=week).model_dump_json())
        drain("digest", d.queue_url("DigestQueue"), module=module)
    assert len(outbox()) == 1

    # a request for nobody: to the dead-letter queue, with its reason
    d.send("DigestQueue", DigestRequest(subscriber_id="sub-gone", week=week).model_dump_json())
    drain("digest", d.queue_url("DigestQueue"), module=module)


def scenario_signup(d: Deployment, sim: XSim) -> None:
    from tests.support.signup import Visitor, confirm_link, path_of

    d.become("SignupFunction")
    events = _events_on(d, sim)
    user_id = sim.add_account(generate_account(31, "small", anchor=sim.now()))
    visitor = Visitor(d.function("SignupFunction"), d.services)

    def sign_up(address: str) -> None:
        started = visitor.start(address)
        assert started.status == 303, started.text
        location = started.headers["location"]
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        answer = requests.post(
            location.split("?")[0],
            data={**params, "user_id": user_id, "decision": "allow"},
            allow_redirects=False,
            timeout=10,
        )
        callback = answer.headers["location"]
        assert callback.startswith(f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/oauth/callback?")
        done = visitor.get(path_of(callback))
        assert done.status == 200, done.text
        confirmed = visitor.confirm(confirm_link(outbox()[-1].raw_data))
        assert confirmed.status == 200, confirmed.text

    sign_up("first@example.com")
    if events:  # the confirmed subscriber's follow events, and the app's revocations
        assert {x.event_type for x in sim.activity.subscriptions.values()} == {
            "follow.follow",
            "follow.unfollow",
            "oauth.revoke",
        }
    sign_up("second@example.com")  # a change of address waits, with the new tokens, for its confirmation
    sid = next(item["pk"].removeprefix("SUB#") for item in _items(d) if item["sk"] == "PROFILE")
    base = f"https://{API_ID}.execute-api.{REGION}.amazonaws.com"
    unsubscribe = links.link(base, "unsubscribe", SIGNING_KEY, sid)
    assert visitor.post(path_of(unsubscribe), form={"List-Unsubscribe": "One-Click"}).status == 200
    delete = visitor.get(path_of(links.link(base, "delete", SIGNING_KEY, sid)))
    answer = visitor.post("/delete", form={"token": delete.field("token"), "csrf_token": delete.field("csrf_token")})
    assert answer.status == 200 and "deleted" in answer.text
    assert not [item for item in _items(d) if item["pk"] == f"SUB#{sid}"]
    assert [x.event_type for x in sim.activity.subscriptions.values()] == (["oauth.revoke"] if events else [])


def scenario_bounces(d: Deployment, sim: XSim) -> None:
    d.become("BouncesFunction")
    d.services.repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    with open("events/bounce.json") as f:
        detail = json.load(f)["detail"]
    detail["mail"]["tags"] = {"subscriber": ["sub-1"]}
    detail["bounce"]["bouncedRecipients"][0]["emailAddress"] = "person1@example.com"
    topic = d.values.ref("EmailFeedbackTopic")
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": topic,
                    "Subject": None,
                    "Message": json.dumps(detail),
                    "Timestamp": "2026-11-23T08:01:13.000Z",
                    "SignatureVersion": "1",
                    "Signature": "c2lnbmF0dXJl",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }
    result = d.function("BouncesFunction").handler(event, _context("bounces"))
    assert result["suppressed"] == 1 and result["subscribers_stopped"] == ["sub-1"]


def scenario_webhook(d: Deployment, sim: XSim) -> None:
    from followthrough.adapters.store import StoredSubscriptions
    from followthrough.pipeline.activity_api import signature
    from followthrough_devkit.serve import http_event, http_response

    d.become("WebhookFunction")
    d.services.repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    d.services.repositories.signups.claim("XUSER", "100", "sub-1")
    if _events_on(d, sim):  # the subscriber holds follow subscriptions, which a revocation deletes
        ids = {
            kind: sim.activity.create({"event_type": kind, "filter": {"user_id": "100"}}, "100")[1]["data"][
                "subscription_id"
            ]
            for kind in ("follow.follow", "follow.unfollow")
        }
        d.services.repositories.activity.put_subscriptions("sub-1", StoredSubscriptions("100", ids))
    module = d.function("WebhookFunction")

    def deliver(method: str, target: str, body: bytes = b"", signed: str | None = None) -> int:
        headers = {"content-type": "application/json", "host": f"{API_ID}.execute-api.{REGION}.amazonaws.com"}
        if signed is not None:
            headers["x-twitter-webhooks-signature"] = signed
        return http_response(module.handler(http_event(method, target, headers, body), _context("webhook")))[0]

    assert deliver("GET", "/x/webhook?crc_token=abc") == 200
    follow = {"source": {"data": {"id": "555", "username": "fan"}}, "target": {"data": {"id": "100"}}}
    event = json.dumps(
        {"data": {"event_uuid": "1", "filter": {"user_id": "100"}, "event_type": "follow.follow", "payload": follow}}
    ).encode()
    assert deliver("POST", "/x/webhook", event, "sha256=forged") == 401
    for _ in range(2):  # a repeat is refused by the conditional write
        assert deliver("POST", "/x/webhook", event, signature(X_CONSUMER_SECRET, event)) == 200
    revoke = json.dumps(
        {"data": {"event_uuid": "2", "filter": {}, "event_type": "oauth.revoke", "payload": {"user_id": "100"}}}
    ).encode()
    assert deliver("POST", "/x/webhook", revoke, signature(X_CONSUMER_SECRET, revoke)) == 200
    assert d.services.repositories.subscribers.get_subscriber("sub-1").status == "needs_reauth"  # type: ignore[union-attr]
    assert len(outbox()) == 1  # the reconnect email
    assert sim.activity.subscriptions == {}


SCENARIOS: dict[str, Callable[[Deployment, XSim], None]] = {
    "DispatchFunction": scenario_dispatch,
    "CollectFunction": scenario_collect,
    "DigestFunction": scenario_digest,
    "SignupFunction": scenario_signup,
    "BouncesFunction": scenario_bounces,
    "WebhookFunction": scenario_webhook,
}


def _context(name: str) -> Any:
    from followthrough_devkit.lambda_runtime import LambdaContext

    return LambdaContext(function_name=f"followthrough-{name}")


def _items(d: Deployment) -> list[dict[str, Any]]:
    return list(boto3.resource("dynamodb").Table(d.aws.table_name).scan()["Items"])


# -- from calls to IAM -------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """One IAM action a call needs, on one resource of each group (any ARN of a group will do)."""

    action: str
    groups: tuple[tuple[str, ...], ...]
    context: tuple[tuple[str, str], ...] = ()


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def identity_candidates(address: str) -> list[str]:
    """The SES identities an address can send as, most specific first: itself, its domain, parent domains."""
    labels = address.split("@", 1)[-1].split(".")
    return [address] + [".".join(labels[i:]) for i in range(len(labels) - 1)]


def sending_identity(address: str, verified: Collection[str] | None) -> tuple[str, ...]:
    """The identity ARN(s) IAM checks for ``address``: the most specific verified one, when known."""
    candidates = identity_candidates(address)
    if verified is not None:
        known = [c for c in candidates if c in verified]
        assert known, f"SES would refuse {address}: none of {candidates} is verified"
        candidates = known[:1]
    return tuple(_arn("ses", f"identity/{c}") for c in candidates)


def needs(call: Call, verified: Collection[str] | None = None, sandbox: bool = False) -> list[Need]:
    """What IAM checks for one API call (the few operations this project makes).

    For SES, ``verified`` (the account's verified identities) says which identity SES sends as,
    and in the ``sandbox`` SES checks each recipient's identity as well (aws/aws-sdk-js#3641).
    """
    service, op, params = call.service, call.operation, call.params
    if service == "dynamodb":
        if op in ("BatchWriteItem", "BatchGetItem"):
            return [Need(f"dynamodb:{op}", ((_arn("dynamodb", f"table/{t}"),),)) for t in params["RequestItems"]]
        if op in ("TransactWriteItems", "TransactGetItems"):
            kinds = {
                "Put": "PutItem",
                "Update": "UpdateItem",
                "Delete": "DeleteItem",
                "ConditionCheck": "ConditionCheckItem",
                "Get": "GetItem",
            }
            return [
                Need(f"dynamodb:{kinds[kind]}", ((_arn("dynamodb", f"table/{spec['TableName']}"),),))
                for item in params["TransactItems"]
                for kind, spec in item.items()
            ]
        table = _arn("dynamodb", f"table/{params['TableName']}")
        if params.get("IndexName"):
            table += f"/index/{params['IndexName']}"
        return [Need(f"dynamodb:{op}", ((table,),))]
    if service == "sqs":
        action = op.removesuffix("Batch")
        return [Need(f"sqs:{action}", ((_arn("sqs", params["QueueUrl"].rsplit("/", 1)[1]),),))]
    if service == "kms":
        key = call.response.get("KeyId") or params["KeyId"]
        key = key if key.startswith("arn:") else _arn("kms", f"key/{key}")
        context = tuple(
            sorted((f"kms:EncryptionContext:{k}", v) for k, v in (params.get("EncryptionContext") or {}).items())
        )
        return [Need(f"kms:{op}", ((key,),), context)]
    if service == "ssm":
        names = params["Names"] if op == "GetParameters" else [params["Name"]]
        return [Need(f"ssm:{op}", tuple((_arn("ssm", f"parameter{n}"),) for n in names))]
    if service == "ses" and op == "SendRawEmail":
        address = params["Source"].rsplit("<", 1)[-1].rstrip(">")
        groups: list[tuple[str, ...]] = [sending_identity(address, verified)]
        if params.get("ConfigurationSetName"):
            groups.append((_arn("ses", f"configuration-set/{params['ConfigurationSetName']}"),))
        if sandbox:
            groups += [
                sending_identity(r.rsplit("<", 1)[-1].rstrip(">"), verified) for r in params.get("Destinations", [])
            ]
        return [Need("ses:SendRawEmail", tuple(groups), (("ses:FromAddress", address),))]
    raise AssertionError(f"the test does not know which IAM action {service}:{op} needs: teach needs()")


@dataclass(frozen=True)
class Grant:
    action: str
    resource: str
    condition: tuple[tuple[str, str], ...] = ()


def attached_statements(template: dict[str, Any], role_id: str, values: Intrinsics) -> list[dict[str, Any]]:
    """The statements of the AWS::IAM::Policy resources attached to the role (those whose condition holds)."""
    out: list[dict[str, Any]] = []
    for policy in resources_of(template, "AWS::IAM::Policy").values():
        if "Condition" in policy and not values.condition(policy["Condition"]):
            continue
        if role_id in [ref_id(r) for r in policy["Properties"]["Roles"]]:
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            out += statements if isinstance(statements, list) else [statements]
    return out


def grants(role: dict[str, Any], values: Intrinsics, attached: list[dict[str, Any]] | None = None) -> list[Grant]:
    out = []
    for statement in values.resolve(list(iter_statements(role)) + (attached or [])):
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = values.resolve(statement["Resource"])
        resources = resources if isinstance(resources, list) else [resources]
        condition: tuple[tuple[str, str], ...] = ()
        for operator, tests in values.resolve(statement.get("Condition", {})).items():
            assert operator == "StringEquals" and all(
                k.startswith("kms:EncryptionContext:") or k == "ses:FromAddress" for k in tests
            ), f"the test cannot evaluate the condition {operator} {tests}"
            condition = tuple(sorted(tests.items()))
        out += [Grant(a, r, condition) for a in actions for r in resources]
    return out


def allows(grant: Grant, action: str, arn: str, context: tuple[tuple[str, str], ...]) -> bool:
    return (
        grant.action.lower() == action.lower()
        and fnmatchcase(arn, grant.resource)
        and set(grant.condition) <= set(context)
    )


def lambda_needs(template: dict[str, Any], logical_id: str, values: Intrinsics) -> list[Need]:
    """What Lambda itself does with the function's role: write its logs, poll its queues, fill its DLQ."""
    props = template["Resources"][logical_id]["Properties"]
    group = values.resolve({"Fn::GetAtt": [ref_id(props["LoggingConfig"]["LogGroup"]), "Arn"]})
    stream = group.removesuffix("*") + "log-stream:2026/11/23/[$LATEST]0123456789abcdef"
    out = [Need("logs:CreateLogStream", ((stream,),)), Need("logs:PutLogEvents", ((stream,),))]
    for mapping in resources_of(template, "AWS::Lambda::EventSourceMapping").values():
        if ref_id(mapping["Properties"]["FunctionName"]) == logical_id:
            queue = values.resolve(mapping["Properties"]["EventSourceArn"])
            out += [Need(a, ((queue,),)) for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")]
    if "DeadLetterConfig" in props:
        out.append(Need("sqs:SendMessage", ((values.resolve(props["DeadLetterConfig"]["TargetArn"]),),)))
    return out


# -- the test ----------------------------------------------------------------------------------


def ses_identities() -> set[str]:
    """The identities verified in moto's SES (the account and region the deployment runs in)."""
    return set(get_backend("ses")[DEFAULT_ACCOUNT_ID][REGION].email_identities)


def could_need(call: Call) -> list[Need]:
    """For SES, every identity a sender could be verified as: the template grants the address and its
    domain (and SenderIdentity) because it cannot know which one the deployer verified."""
    if call.service == "ses" and call.operation == "SendRawEmail":
        address = call.params["Source"].rsplit("<", 1)[-1].rstrip(">")
        return [
            Need("ses:SendRawEmail", ((arn,),), (("ses:FromAddress", address),))
            for arn in sending_identity(address, None)
        ]
    return []


def assert_policy_matches_the_calls(deployment: Deployment, logical_id: str) -> None:
    recording = deployment.recording
    assert recording.calls, "the scenario made no AWS call"

    # every setting the code read is set by the template (or is right by default), and nothing else is
    environment = deployment.environment(logical_id)
    assert not recording.settings_read & LOCAL_ONLY
    needed = recording.settings_read - PRODUCTION_DEFAULTS
    given = {config._SECRET_PARAMS.get(name, name) for name in environment}
    assert needed <= given, f"{logical_id} reads {sorted(needed - given)} but the template does not set them"
    ours = {config._SECRET_PARAMS.get(n, n) for n in environment if not n.startswith("POWERTOOLS_")}
    assert ours <= recording.settings_read, (
        f"{logical_id} is given {sorted(ours - recording.settings_read)}, which its code never reads"
    )
    assert not set(environment) & HARNESS_ENV

    role_id = ref_id(deployment.template["Resources"][logical_id]["Properties"]["Role"])
    allowed = grants(
        deployment.template["Resources"][role_id],
        deployment.values,
        attached_statements(deployment.template, role_id, deployment.values),
    )
    assert all(g.resource != "*" and "*" not in g.action for g in allowed), "no wildcard actions or resources"

    # every action the code and Lambda need is allowed, on the resources they touch
    verified = ses_identities()
    code_needs = [n for call in recording.calls for n in needs(call, verified, deployment.sandbox)]
    for need in code_needs + lambda_needs(deployment.template, logical_id, deployment.values):
        for group in need.groups:
            assert any(allows(g, need.action, arn, need.context) for g in allowed for arn in group), (
                f"{logical_id} needs {need.action} on {group[0]} (context {dict(need.context)}), not allowed"
            )

    # and nothing broader: every grant is used by the code or by Lambda
    used = (
        code_needs
        + lambda_needs(deployment.template, logical_id, deployment.values)
        + [n for call in recording.calls for n in could_need(call)]
    )
    unused = [
        g
        for g in allowed
        if not any(allows(g, n.action, arn, n.context) for n in used for group in n.groups for arn in group)
    ]
    assert not unused, f"{logical_id} is allowed what it never does: {unused}"


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_environment_and_policy_match_what_the_code_does(
    logical_id: str, deployment: Deployment, x_world: XSim
) -> None:
    SCENARIOS[logical_id](deployment, x_world)
    assert_policy_matches_the_calls(deployment, logical_id)


@pytest.mark.parametrize("ses_setup", [SesSetup(parameters={"XWebhookId": WEBHOOK_ID})], ids=["events"])
@pytest.mark.parametrize("logical_id", ["SignupFunction", "CollectFunction", "WebhookFunction"])
def test_with_activity_events_the_environment_and_policy_still_match(
    logical_id: str, deployment: Deployment, x_world: XSim
) -> None:
    """Once X's webhook is registered (XWebhookId), sign-up subscribes, the webhook deletes a revoked
    subscriber's subscriptions and collect reads the events: what they are given is what they use."""
    SCENARIOS[logical_id](deployment, x_world)
    assert_policy_matches_the_calls(deployment, logical_id)


SUBDOMAIN_SENDER = "digest@mail.followthrough.example"
SENDERS = ["SignupFunction", "DigestFunction", "CollectFunction", "WebhookFunction"]


@pytest.mark.parametrize(
    "ses_setup",
    [
        SesSetup(
            sender=SUBDOMAIN_SENDER,
            verified=("followthrough.example",),
            parameters={"SenderIdentity": "followthrough.example"},
        )
    ],
    ids=["subdomain"],
)
@pytest.mark.parametrize("logical_id", SENDERS)
def test_a_sender_on_a_subdomain_of_the_verified_domain_sends(
    logical_id: str, deployment: Deployment, x_world: XSim
) -> None:
    SCENARIOS[logical_id](deployment, x_world)
    assert {m.source for m in outbox()} == {SUBDOMAIN_SENDER}
    assert_policy_matches_the_calls(deployment, logical_id)


def _digest_grants(**parameters: str) -> list[Grant]:
    values = Intrinsics(
        {
            **parameter_defaults(**{"SenderEmail": SENDER, "XClientId": X_CLIENT_ID, **parameters}),
            "EmailConfigurationSet": CONFIGURATION_SET,
        },
        {
            "DigestLogGroup.Arn": "log-group",
            "DigestQueue.Arn": "queue",
            "DigestDeadLetterQueue.Arn": "dead-letter-queue",
            "Table.Arn": "table",
        },
    )
    template = translated()
    return grants(template["Resources"]["DigestRole"], values, attached_statements(template, "DigestRole", values))


def test_a_subdomain_sender_needs_sender_identity_and_the_sandbox_needs_ses_sandbox() -> None:
    call = Call("ses", "SendRawEmail", {"Source": SUBDOMAIN_SENDER, "Destinations": ["person1@example.com"]}, {})
    [from_subdomain] = needs(call, verified={"followthrough.example", "person1@example.com"}, sandbox=True)
    sender, recipient = from_subdomain.groups[0], from_subdomain.groups[-1]
    assert sender == (_arn("ses", "identity/followthrough.example"),)
    assert recipient == (_arn("ses", "identity/person1@example.com"),)

    def allowed(grants_: list[Grant], group: tuple[str, ...]) -> bool:
        return any(allows(g, "ses:SendRawEmail", arn, from_subdomain.context) for g in grants_ for arn in group)

    # the policy names the address and its domain, not the parent domain SES sends as
    assert not allowed(_digest_grants(SenderEmail=SUBDOMAIN_SENDER), sender)
    assert allowed(_digest_grants(SenderEmail=SUBDOMAIN_SENDER, SenderIdentity="followthrough.example"), sender)
    # out of the sandbox no recipient identity is granted; in it, any, but only from SenderEmail
    assert not allowed(_digest_grants(SenderEmail=SUBDOMAIN_SENDER), recipient)
    assert allowed(_digest_grants(SenderEmail=SUBDOMAIN_SENDER, SesSandbox="true"), recipient)
    assert not allowed(_digest_grants(SesSandbox="true"), recipient)  # SenderEmail is another address


SANDBOX = SesSetup(
    verified=(SENDER, "person1@example.com", "person@example.com", "first@example.com", "second@example.com"),
    parameters={"SesSandbox": "true"},
    sandbox=True,
)


@pytest.mark.parametrize("ses_setup", [SANDBOX], ids=["sandbox"])
@pytest.mark.parametrize("logical_id", SENDERS)
def test_in_the_sandbox_verified_recipients_get_mail(logical_id: str, deployment: Deployment, x_world: XSim) -> None:
    assert deployment.sandbox
    SCENARIOS[logical_id](deployment, x_world)
    assert outbox()
    assert_policy_matches_the_calls(deployment, logical_id)


@pytest.mark.parametrize("ses_setup", [SANDBOX], ids=["sandbox"])
def test_the_first_rejected_send_is_one_clear_log_line_a_metric_and_a_failed_record(
    deployment: Deployment, x_world: XSim, caplog: pytest.LogCaptureFixture
) -> None:
    from aws_lambda_powertools import Metrics

    from followthrough.messages import RECORD_FAILURES_METRIC

    added: list[tuple[str, float]] = []
    deployment.monkeypatch.setattr(
        Metrics, "add_metric", lambda self, name, unit, value, resolution=60: added.append((name, value))
    )
    deployment.become("DigestFunction")
    week = "2026-W48"
    # person1 is a verified recipient, person2 is not: in the sandbox SES refuses the second
    for n in (1, 2):
        stored = deployment.services.repositories  # type: ignore[union-attr]
        stored.subscribers.put_subscriber(subscriber(n), reference=MONDAY_8)
        report = WeeklyReport(subscriber_id=f"sub-{n}", username=f"person{n}", week=week, generated_at=MONDAY_8)
        stored.weeks.put_week(f"sub-{n}", week, report, Spend())
        deployment.send("DigestQueue", DigestRequest(subscriber_id=f"sub-{n}", week=week).model_dump_json())
    # and one for nobody: it cannot succeed and goes to the DLQ at once (a record failure it is not)
    deployment.send("DigestQueue", DigestRequest(subscriber_id="sub-gone", week=week).model_dump_json())
    module = deployment.function("DigestFunction")
    stats = drain("digest", deployment.queue_url("DigestQueue"), module=module)
    assert (stats.delivered, stats.failed) == (2, 1)
    assert [set(m.destinations) for m in outbox()] == [{"person1@example.com"}]
    rejected = [r for r in caplog.records if r.getMessage().startswith("email send rejected by SES")]
    assert len(rejected) == 1 and rejected[0].levelname == "ERROR"
    assert "sandbox" in rejected[0].getMessage() and "person2@example.com" not in rejected[0].getMessage()
    assert (mailer_module.SEND_REJECTED_METRIC, 1) in added and (RECORD_FAILURES_METRIC, 1) in added
    assert_policy_matches_the_calls(deployment, "DigestFunction")


def test_the_recorder_sees_calls_only_inside_handlers(deployment: Deployment, x_world: XSim) -> None:
    deployment.become("DispatchFunction")
    # outside a handler: not recorded
    deployment.services.repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)  # type: ignore[union-attr]
    assert deployment.recording.calls == [] and deployment.recording.settings_read == set()
    deployment.function("DispatchFunction").handler(scheduled_event(MONDAY_8), _context("dispatch"))
    operations = [(c.service, c.operation) for c in deployment.recording.calls]
    assert ("dynamodb", "Query") in operations and ("sqs", "SendMessageBatch") in operations
    assert {"TABLE_NAME", "COLLECT_QUEUE_URL"} <= deployment.recording.settings_read


def test_needs_and_grants_agree_on_a_policy_that_is_too_narrow() -> None:
    call = Call(
        "ses",
        "SendRawEmail",
        {"Source": "Digest <digest@mail.example>", "ConfigurationSetName": "cs", "RawMessage": {"Data": b""}},
        {},
    )
    [need] = needs(call)
    identity_only = [Grant("ses:SendRawEmail", _arn("ses", "identity/mail.example"))]
    assert any(allows(g, need.action, arn, ()) for g in identity_only for arn in need.groups[0])
    assert not any(allows(g, need.action, arn, ()) for g in identity_only for arn in need.groups[1])
    kms = Need("kms:Decrypt", ((_arn("kms", "key/k"),),), (("kms:EncryptionContext:purpose", "other"),))
    grant = Grant("kms:Decrypt", _arn("kms", "key/k"), (("kms:EncryptionContext:purpose", "x-oauth-token"),))
    assert not allows(grant, kms.action, kms.groups[0][0], kms.context)


def test_ses_identity_arn_of_a_display_name_source_is_the_address() -> None:
    [need] = needs(Call("ses", "SendRawEmail", {"Source": "Followthrough <digest@followthrough.example>"}, {}))
    assert need.groups == (
        (_arn("ses", "identity/digest@followthrough.example"), _arn("ses", "identity/followthrough.example")),
    )
