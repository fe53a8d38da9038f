"""digest: MIME structure and headers, hostile names escaped, exactly once per subscriber-week, suppression.

On the in-memory twins; exactly-once through Powertools' idempotency, the DLQ and the calls DynamoDB sees on
in-process moto (those tests ask for ``aws``)."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import boto3

from followthrough.bootstrap import Services, from_environment
from followthrough.cursors import Spend
from followthrough.links import read_token
from followthrough.messages import DigestRequest
from followthrough.report import AutoDmReceived, AutoDms, Conversation, PassiveFollow, WeeklyReport
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.lambda_runtime import drain, load_function
from tests.support.aws import outbox as _outbox
from tests.support.factories import MONDAY_8, subscriber
from tests.support.twins import Twins, twin_settings

WEEK = "2026-W48"


def _report(**fields: Any) -> WeeklyReport:
    values: dict[str, Any] = {
        "subscriber_id": "sub-1",
        "username": "person1",
        "week": WEEK,
        "generated_at": MONDAY_8,
        "passive_follows": [
            PassiveFollow(user_id="77", username="quiet_one", reasons=["followed 9 months, never talked"])
        ],
        "auto_dms": AutoDms(
            received=[
                AutoDmReceived(
                    sender_id="88",
                    sender_username="growthbot",
                    event_id="5",
                    confidence=0.9,
                    reasons=["same text as 3 other senders"],
                )
            ]
        ),
        "conversations": [
            Conversation(
                kind="greet_followee",
                user_id="77",
                username="quiet_one",
                url="https://x.com/quiet_one",
                reason="You follow them and never said hello.",
            )
        ],
    }
    values.update(fields)
    return WeeklyReport(**values)


def _queue_digest(aws: LocalAws, times: int = 1) -> None:
    sqs = boto3.client("sqs")
    for _ in range(times):
        sqs.send_message(
            QueueUrl=aws.queue_urls["digest"],
            MessageBody=DigestRequest(subscriber_id="sub-1", week=WEEK).model_dump_json(),
        )


def _send_digest(twins: Twins, services: Services, week: str = WEEK) -> None:
    """A digest request queued and handed to the digest function (the twins' queue)."""
    services.digest_queue.send(DigestRequest(subscriber_id="sub-1", week=week))
    assert twins.deliver("digest", services).failed == 0


def _prepare(services: Services, report: WeeklyReport | None = None, **sub_fields: Any) -> None:
    services.repositories.subscribers.put_subscriber(subscriber(1, **sub_fields), reference=MONDAY_8)
    services.repositories.weeks.put_week(
        "sub-1", WEEK, report or _report(), Spend(skipped=["likes: the weekly X budget was reached"])
    )


def test_sent_message_is_multipart_alternative_with_one_click_unsubscribe(twins: Twins, services: Services) -> None:
    _prepare(services)
    _send_digest(twins, services)
    [sent] = twins.mailer.sent
    message = email.message_from_string(sent.raw_data, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"] == "person1@example.com" and message["From"] == services.settings.sender_email
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip("<>")
    assert url.startswith("http") and "/unsubscribe?token=" in url
    assert read_token(services.settings.signing_key, "unsubscribe", url.split("token=")[1]) == "sub-1"
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    for body in (html, text):
        assert "quiet_one" in body and "growthbot" in body and "budget" in body
    assert len(html.encode()) <= 60_000
    assert services.repositories.weeks.week_status("sub-1", WEEK) == ("sent", sent.id)
    assert services.repositories.weeks.get_digest("sub-1", WEEK) is not None


def test_hostile_names_and_text_are_escaped_in_html(twins: Twins, services: Services) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    _prepare(
        services,
        _report(
            username=evil,
            passive_follows=[PassiveFollow(user_id="77", username=evil, reasons=[evil])],
            conversations=[
                Conversation(
                    kind="answer_mention", user_id="9", username=evil, url="https://x.com/i/status/1", reason=evil
                )
            ],
        ),
    )
    _send_digest(twins, services)
    [sent] = twins.mailer.sent
    html = (
        email.message_from_string(sent.raw_data, policy=email.policy.default)
        .get_body(preferencelist=("html",))
        .get_content()
    )
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_five_redeliveries_send_exactly_one_digest(aws: LocalAws, services: Services) -> None:
    _prepare(services)
    _queue_digest(aws, times=5)
    module = load_function("digest")
    stats = drain("digest", aws.queue_urls["digest"], batch_size=2, module=module)
    assert stats.delivered == 5 and stats.failed == 0
    assert len(_outbox()) == 1


def test_a_failed_send_is_retried_and_still_sends_once(aws: LocalAws, monkeypatch: Any, services: Services) -> None:
    _prepare(services)
    from followthrough.adapters import mailer as mailer_module

    real_send = mailer_module.Mailer.send
    calls = {"n": 0}

    def flaky(self: Any, recipient: str, raw: bytes) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("SES hiccup")
        return real_send(self, recipient, raw)

    monkeypatch.setattr(mailer_module.Mailer, "send", flaky)
    _queue_digest(aws)
    first = drain("digest", aws.queue_urls["digest"])
    assert first.failed == 1 and _outbox() == []
    # SQS redelivers the failed message after its visibility timeout; the
    # same request arriving again (twice, for good measure) stands in for that
    _queue_digest(aws, times=2)
    drain("digest", aws.queue_urls["digest"])
    assert len(_outbox()) == 1 and calls["n"] == 2


def test_unconfirmed_or_suppressed_addresses_get_nothing(twins: Twins, services: Services) -> None:
    _prepare(services, email_confirmed=False)
    _send_digest(twins, services)
    assert twins.mailer.sent == []
    assert services.repositories.weeks.week_status("sub-1", WEEK)[0] == "no_digest"  # type: ignore[index]

    services.repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    services.repositories.suppression.suppress("person1@example.com", "bounce")
    services.repositories.weeks.put_week("sub-1", "2026-W49", _report(week="2026-W49"), Spend())
    _send_digest(twins, services, "2026-W49")
    assert twins.mailer.sent == []
    assert "suppressed" in services.repositories.weeks.week_status("sub-1", "2026-W49")[1]  # type: ignore[index]


def test_poison_message_goes_alone_to_the_dlq_with_its_reason(aws: LocalAws, services: Services) -> None:
    _prepare(services)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=aws.queue_urls["digest"], MessageBody='{"subscriber_id": "sub-1"}')
    _queue_digest(aws)
    stats = drain("digest", aws.queue_urls["digest"])
    # nothing is retried: the good request is sent, the poison one is dead-lettered (and deleted here)
    assert stats.failed == 0 and stats.delivered == 2 and len(_outbox()) == 1
    dead = sqs.receive_message(
        QueueUrl=aws.queue_urls["digest-dlq"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in dead] == ['{"subscriber_id": "sub-1"}']
    assert dead[0]["MessageAttributes"]["reason"]["StringValue"] == "invalid message: body.week: Field required"


def test_sample_event_parses() -> None:
    import json

    with open("events/digest.json") as f:
        event = json.load(f)
    module = load_function("digest")
    record = module.DigestRecord.model_validate(event["Records"][0])
    assert record.body.subscriber_id == "sub-demo" and record.body.week == "2026-W48"


def _sent_from_https_deployment(twins: Twins, monkeypatch: Any) -> tuple[Any, Services]:
    """The one digest sent by a deployment whose public URL is https (and that deployment's services)."""
    twin_settings(monkeypatch)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://followthrough.example")
    services = twins.install(from_environment())
    _prepare(services)
    _send_digest(twins, services)
    [sent] = twins.mailer.sent
    return sent, services


def test_list_unsubscribe_is_https_when_the_public_url_is(twins: Twins, monkeypatch: Any) -> None:
    sent, services = _sent_from_https_deployment(twins, monkeypatch)
    message = email.message_from_string(sent.raw_data, policy=email.policy.default)
    url = message["List-Unsubscribe"].removeprefix("<").removesuffix(">")
    assert url.startswith("https://followthrough.example/unsubscribe?token=")
    assert read_token(services.settings.signing_key, "unsubscribe", url.split("token=")[1]) == "sub-1"
    # the footer links to the same signed page; each subscriber gets their own token
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f'href="{url}"' in html
    other = services.digest_sender
    from followthrough.links import link

    assert link(other.public_base_url, "unsubscribe", other.signing_key, "sub-2") != url


def test_a_week_already_sent_is_never_sent_again(twins: Twins, services: Services) -> None:
    _prepare(services)
    request = DigestRequest(subscriber_id="sub-1", week=WEEK)
    first = services.digest_sender.send(request)
    # straight to the sender, past the idempotency record (as after it expired or a manual re-run)
    again = services.digest_sender.send(request)
    assert first.outcome == again.outcome == "sent" and again.message_id == first.message_id
    assert len(twins.mailer.sent) == 1


def test_the_stored_digest_is_the_message_that_was_sent(twins: Twins, services: Services) -> None:
    _prepare(services)
    _send_digest(twins, services)
    [sent] = twins.mailer.sent
    stored = services.repositories.weeks.get_digest("sub-1", WEEK)
    assert stored is not None
    assert (
        email.message_from_bytes(stored, policy=email.policy.default)["Message-ID"]
        == email.message_from_string(sent.raw_data, policy=email.policy.default)["Message-ID"]
    )


def test_list_unsubscribe_header_is_sent_as_a_plain_url(twins: Twins, monkeypatch: Any) -> None:
    sent, _ = _sent_from_https_deployment(twins, monkeypatch)
    # the raw header, as a mail client sees it: no encoded-words, no folding inside the URL
    header = next(line for line in sent.raw_data.splitlines() if line.startswith("List-Unsubscribe:"))
    assert header.startswith("List-Unsubscribe: <https://followthrough.example/unsubscribe?token=")
    assert header.endswith(">") and "=?" not in header


def test_a_digest_reads_its_week_once(aws: LocalAws, monkeypatch: Any, services: Services) -> None:
    _prepare(services)
    table = services.repositories.weeks.table.resource  # type: ignore[attr-defined]
    week_reads: list[str] = []
    real_get_item, real_query = table.get_item, table.query

    def get_item(**kwargs: Any) -> Any:
        if kwargs["Key"]["sk"].startswith("WEEK#"):
            week_reads.append(kwargs["Key"]["sk"])
        return real_get_item(**kwargs)

    def query(**kwargs: Any) -> Any:
        got = real_query(**kwargs)
        week_reads.extend(i["sk"] for i in got.get("Items", []) if i["sk"] == f"WEEK#{WEEK}")
        return got

    monkeypatch.setattr(table, "get_item", get_item)
    monkeypatch.setattr(table, "query", query)
    assert services.digest_sender.send(DigestRequest(subscriber_id="sub-1", week=WEEK)).outcome == "sent"
    assert week_reads == [f"WEEK#{WEEK}"]
