"""template.yaml, translated by SAM: runtimes, handlers, logs, alarms, secrets, and local/aws.py in step with it.

The helpers (``translated``, ``Intrinsics``, ...) are in tests/support/template.py.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import pytest

from followthrough import config
from followthrough.pipeline.collect import CLIENT_REFUSED_METRIC, CREDITS_METRIC
from followthrough_devkit import aws as local_aws
from tests.support.template import (
    FUNCTION_IDS,
    ROOT,
    RUNTIMES,
    Intrinsics,
    iter_statements,
    load_handler,
    ref_id,
    resources_of,
    source_template,
    translated,
)

# the template tier (`make template`): the template itself, translated, deployed into moto and run
pytestmark = pytest.mark.template


def test_the_template_declares_the_six_functions() -> None:
    assert FUNCTION_IDS == [
        "BouncesFunction",
        "CollectFunction",
        "DigestFunction",
        "DispatchFunction",
        "SignupFunction",
        "WebhookFunction",
    ]


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_handler_resolves_to_a_callable_in_the_repo(logical_id: str) -> None:
    handler = load_handler(logical_id)
    inspect.signature(handler).bind({}, object())  # Lambda calls it with (event, context)


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_functions_run_python_on_arm64_with_json_logs_kept_for_a_while(logical_id: str) -> None:
    template = translated()
    props = template["Resources"][logical_id]["Properties"]
    assert props["Runtime"] in RUNTIMES and props["Architectures"] == ["arm64"]
    assert 128 <= props["MemorySize"] <= 2048 and props["Timeout"] <= 900
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    log_group = template["Resources"][ref_id(props["LoggingConfig"]["LogGroup"])]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # the log group is the one Lambda would pick for the function's name
    assert log_group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/" + props["FunctionName"]["Fn::Sub"]}
    assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == logical_id.removesuffix("Function").lower()
    layers = [ref_id(layer) for layer in props["Layers"]]
    assert [template["Resources"][layer]["Type"] for layer in layers] == ["AWS::Lambda::LayerVersion"]


def test_every_queue_has_a_dead_letter_queue_and_lambda_can_finish_before_a_message_returns() -> None:
    template = translated()
    queues = resources_of(template, "AWS::SQS::Queue")
    dead_letter = {k for k in queues if k.endswith("DeadLetterQueue")}
    for logical_id, queue in queues.items():
        if logical_id in dead_letter:
            assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 86400
            continue
        redrive = queue["Properties"]["RedrivePolicy"]
        # receives enough that no run of crashed invocations exhausts them (issue 18): what cannot
        # succeed is dead-lettered by the handler, so the count is only the backstop
        assert ref_id(redrive["deadLetterTargetArn"]) in dead_letter and 15 <= redrive["maxReceiveCount"] <= 30
    for mapping in resources_of(template, "AWS::Lambda::EventSourceMapping").values():
        props = mapping["Properties"]
        queue = queues[ref_id(props["EventSourceArn"])]
        function = template["Resources"][ref_id(props["FunctionName"])]["Properties"]
        # AWS refuses an event source whose visibility timeout is shorter than the function's timeout
        assert queue["Properties"]["VisibilityTimeout"] >= function["Timeout"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def _alarms() -> list[dict[str, Any]]:
    return [a["Properties"] for a in resources_of(translated(), "AWS::CloudWatch::Alarm").values()]


def _service_of(template: dict[str, Any], logical_id: str) -> str:
    return str(template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"])


def test_alarms_watch_every_queue_every_function_and_the_ses_reputation() -> None:
    template = translated()
    alarms = _alarms()
    watched = {
        (a["Namespace"], a["MetricName"], ref_id(a["Dimensions"][0]["Value"]))
        for a in alarms
        if a.get("Namespace", "").startswith("AWS/") and a.get("Dimensions")
    }
    queues = resources_of(template, "AWS::SQS::Queue")
    dead_letter = {k for k in queues if k.endswith("DeadLetterQueue")}
    polled = {
        ref_id(m["Properties"]["EventSourceArn"])
        for m in resources_of(template, "AWS::Lambda::EventSourceMapping").values()
    }
    assert polled == {"CollectQueue", "DigestQueue"}
    assert watched == (
        {("AWS/SQS", "ApproximateNumberOfMessagesVisible", q) for q in dead_letter}
        # a stuck queue is seen long before its messages reach the dead-letter queue
        | {("AWS/SQS", "ApproximateAgeOfOldestMessage", q) for q in polled}
        | {("AWS/Lambda", "Errors", f) for f in FUNCTION_IDS}
        | {("AWS/Lambda", "Throttles", f) for f in FUNCTION_IDS}
    )
    for alarm in alarms:
        if alarm.get("MetricName") == "ApproximateAgeOfOldestMessage":
            queue = ref_id(alarm["Dimensions"][0]["Value"])
            receives = queues[queue]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
            # earlier than a failing message's way to the dead-letter queue
            assert alarm["Threshold"] < receives * queues[queue]["Properties"]["VisibilityTimeout"]
    # SES reviews an account at a 5 % bounce or a 0.1 % complaint rate and pauses it at 10 % / 0.5 %:
    # the alarms fire no later than the review, on the account-wide metrics SES acts on
    reputation = {a["MetricName"]: a for a in alarms if a.get("Namespace") == "AWS/SES"}
    assert set(reputation) == {"Reputation.BounceRate", "Reputation.ComplaintRate"}
    assert reputation["Reputation.BounceRate"]["Threshold"] <= 0.05
    assert reputation["Reputation.ComplaintRate"]["Threshold"] <= 0.001
    for alarm in reputation.values():
        assert "Dimensions" not in alarm and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert alarm["TreatMissingData"] == "notBreaching"
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail" and subscription["Properties"]["Protocol"] == "email"


@pytest.mark.parametrize("metric", [CREDITS_METRIC, CLIENT_REFUSED_METRIC])
def test_x_refusing_the_whole_app_is_alarmed(metric: str) -> None:
    # X's 402 (credits exhausted) and the token endpoint refusing the app's secret stop collection for
    # everyone: someone must hear of it
    [alarm] = [a for a in _alarms() if a.get("MetricName") == metric]
    assert alarm["Namespace"] == "Followthrough"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "collect"}]


def test_record_failures_inside_a_batch_are_alarmed_for_every_batch_function() -> None:
    from followthrough.messages import RECORD_FAILURES_METRIC

    template = translated()
    batch_functions = {
        ref_id(m["Properties"]["FunctionName"])
        for m in resources_of(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"].get("FunctionResponseTypes") == ["ReportBatchItemFailures"]
    }
    alarms = [a for a in _alarms() if a.get("MetricName") == RECORD_FAILURES_METRIC]
    assert sorted(a["Dimensions"][0]["Value"] for a in alarms) == sorted(
        _service_of(template, f) for f in batch_functions
    )
    for alarm in alarms:
        assert alarm["Namespace"] == "Followthrough" and alarm["Statistic"] == "Sum"
        # within minutes, where the dead-letter queue sees a failing record only after five receives
        assert alarm["Period"] * alarm["EvaluationPeriods"] <= 900


def test_every_function_that_sends_email_alarms_on_a_rejected_send() -> None:
    from followthrough.adapters.mailer import SEND_REJECTED_METRIC

    template = translated()
    senders = set()
    for logical_id in FUNCTION_IDS:
        role = template["Resources"][ref_id(template["Resources"][logical_id]["Properties"]["Role"])]
        if any("ses:SendRawEmail" in st["Action"] for st in iter_statements(role)):
            senders.add(_service_of(template, logical_id))
    assert senders == {"signup", "collect", "digest", "webhook"}
    [alarm] = [a for a in _alarms() if "Metrics" in a]
    stats = {q["Id"]: q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q}
    assert {(m["Metric"]["Namespace"], m["Metric"]["MetricName"]) for m in stats.values()} == {
        ("Followthrough", SEND_REJECTED_METRIC)
    }
    assert {m["Metric"]["Dimensions"][0]["Value"] for m in stats.values()} == senders
    [expression] = [q for q in alarm["Metrics"] if q.get("ReturnData")]
    # every sender's count is in the sum, a missing one counts as zero
    assert sorted(re.findall(r"FILL\((\w+), 0\)", expression["Expression"])) == sorted(stats)
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_the_schedule_is_hourly_and_invokes_dispatch() -> None:
    [rule] = resources_of(translated(), "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert [ref_id(t["Arn"]) for t in rule["Properties"]["Targets"]] == ["DispatchFunction"]


def test_the_table_is_on_demand_recoverable_encrypted_with_ttl_and_the_due_index() -> None:
    props = translated()["Resources"]["Table"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": local_aws.TTL_ATTRIBUTE, "Enabled": True}
    assert [i["IndexName"] for i in props["GlobalSecondaryIndexes"]] == ["due"]


def test_local_aws_mirrors_the_table_and_queues_of_the_template() -> None:
    template = translated()
    props = template["Resources"]["Table"]["Properties"]
    for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert local_aws.TABLE[key] == props[key], key
    queues = resources_of(template, "AWS::SQS::Queue")
    worked = {k: q for k, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    mirrored = {f"{name.capitalize()}Queue": spec for name, spec in local_aws.QUEUES.items()}
    assert set(mirrored) == set(worked)
    for logical_id, (visibility, max_receives) in mirrored.items():
        q = worked[logical_id]["Properties"]
        assert (q["VisibilityTimeout"], q["RedrivePolicy"]["maxReceiveCount"]) == (visibility, max_receives)


def test_secrets_are_ssm_parameter_names_never_values() -> None:
    template = source_template()
    secret_vars = set(config._SECRET_PARAMS.values())
    for logical_id in FUNCTION_IDS:
        variables = translated()["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert not secret_vars & set(variables), f"{logical_id} has a secret in its environment"
        for param_var in set(config._SECRET_PARAMS) & set(variables):
            named = variables[param_var]
            if "Fn::If" in named:  # given only when a condition holds: the name is the true branch's
                assert named["Fn::If"][2] == {"Ref": "AWS::NoValue"}, named
                named = named["Fn::If"][1]
            parameter = template["Parameters"][ref_id(named)]
            assert parameter["Default"].startswith("/") and re.match(parameter["AllowedPattern"], parameter["Default"])
    for name, parameter in template["Parameters"].items():
        assert "secret" not in name.lower() or name.endswith("Parameter"), name
        assert not parameter.get("NoEcho"), f"{name}: secrets live in SSM, not in stack parameters"


def test_the_api_is_throttled_logged_and_the_form_url_is_an_output() -> None:
    template = translated()
    stage = template["Resources"]["HttpApiStage"]["Properties"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0
    assert ref_id(stage["AccessLogSettings"]["DestinationArn"]) == "ApiAccessLogGroup"
    json.loads(stage["AccessLogSettings"]["Format"])
    integration = template["Resources"]["SignupIntegration"]["Properties"]
    assert ref_id(integration["IntegrationUri"]) == "SignupFunction"
    assert template["Resources"]["SignupRoute"]["Properties"]["RouteKey"] == "$default"
    outputs = template["Outputs"]
    assert outputs["FormUrl"]["Value"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
    }
    assert outputs["OAuthCallbackUrl"]["Value"]["Fn::Sub"].endswith("/oauth/callback")


def test_bounces_and_complaints_reach_the_bounce_handler() -> None:
    template = translated()
    destination = template["Resources"]["EmailFeedbackDestination"]["Properties"]
    assert ref_id(destination["ConfigurationSetName"]) == "EmailConfigurationSet"
    assert sorted(destination["EventDestination"]["MatchingEventTypes"]) == ["bounce", "complaint"]
    topic = ref_id(destination["EventDestination"]["SnsDestination"]["TopicARN"])
    subscriptions = [
        s["Properties"]
        for s in resources_of(template, "AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "lambda"
    ]
    assert [(ref_id(s["TopicArn"]), ref_id(s["Endpoint"])) for s in subscriptions] == [(topic, "BouncesFunction")]


def test_intrinsics_resolve_subs_selects_and_refuse_the_unknown() -> None:
    values = Intrinsics({"SenderEmail": "digest@mail.example", "Table": "t"}, {"Table.Arn": "arn:table/t"})
    node = {
        "Fn::Sub": [
            "${AWS::Region}:${Domain}:${Table.Arn}:${!Literal}",
            {"Domain": {"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "SenderEmail"}]}]}},
        ]
    }
    assert values.resolve(node) == "us-east-1:mail.example:arn:table/t:${Literal}"
    with pytest.raises(KeyError):
        values.resolve({"Ref": "Unknown"})


# -- the docs say what the template does --------------------------------------------------------


def _event_source(template: dict[str, Any], function_id: str) -> dict[str, Any]:
    [mapping] = [
        m["Properties"]
        for m in resources_of(template, "AWS::Lambda::EventSourceMapping").values()
        if ref_id(m["Properties"]["FunctionName"]) == function_id
    ]
    return mapping


def test_scaling_notes_and_the_template_agree() -> None:
    template = translated()
    notes = (ROOT / "docs" / "scaling.md").read_text()
    collect_cap = _event_source(template, "CollectFunction")["ScalingConfig"]["MaximumConcurrency"]
    digest_cap = _event_source(template, "DigestFunction")["ScalingConfig"]["MaximumConcurrency"]
    dispatch_timeout = template["Resources"]["DispatchFunction"]["Properties"]["Timeout"]
    assert f"**collect: `MaximumConcurrency` {collect_cap}**" in notes
    assert f"**digest: `MaximumConcurrency` {digest_cap}**" in notes
    assert f"**dispatch: `Timeout` {dispatch_timeout} s**" in notes
    # the notes' popular slot (20,000 subscribers, ≈ 5 s of collect each) drains within its hour,
    # its digests stay under SES's starting 14 sends a second (≈ 1 s each), and the dispatcher's
    # ≈ 120 s for the slot has a margin
    assert "**20,000 subscribers in one\nhour**" in notes and "≈ 5 s = 100,000 s of work" in notes
    assert 20_000 * 5 / collect_cap < 3600
    assert digest_cap * 1 < 14
    assert dispatch_timeout >= 3 * 120


def test_the_readme_counts_the_alarms_the_template_has() -> None:
    readme = (ROOT / "README.md").read_text()
    alarms = resources_of(translated(), "AWS::CloudWatch::Alarm")
    assert set(re.findall(r"(\d+) alarms", readme)) == {str(len(alarms))}
    section = readme.split("### Alarms", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\|[^|]+\| (\d+) \|$", section, flags=re.M)
    assert sum(int(n) for n in rows) == len(alarms)
    watched = sum(
        len([q for q in a["Properties"].get("Metrics", []) if "MetricStat" in q]) or 1 for a in alarms.values()
    )
    assert f"{len(alarms)} alarms watching {watched} metrics" in readme


def test_the_readme_tells_what_samconfig_does() -> None:
    readme = (ROOT / "README.md").read_text()
    config = (ROOT / "samconfig.toml").read_text()
    confirms = re.search(r"^confirm_changeset = (true|false)$", config, flags=re.M)
    assert confirms is not None
    if confirms.group(1) == "true":
        assert "Every `make deploy`, the first and the later ones, shows the change set and asks" in readme
    # the SSM values are written --value=..., never --value '...' (a generated key may start with "-")
    assert "--value " not in readme and readme.count("--value=") >= 2


def test_the_monthly_post_cap_is_a_parameter_with_an_alarm_at_80_percent_and_one_when_x_caps() -> None:
    from followthrough.pipeline.collect import POST_CAP_REACHED_METRIC, POST_CAP_USED_METRIC

    template = translated()
    cap = template["Parameters"]["XPostCap"]
    assert cap["Default"] == "3000000" and re.fullmatch(cap["AllowedPattern"], "none")  # none: enterprise
    for logical_id in ("CollectFunction", "SignupFunction"):  # the collector reserves, the sign-up dates
        variables = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert variables["X_POST_CAP"] == {"Ref": "XPostCap"}
        assert variables["X_BILLING_CYCLE_DAY"] == {"Ref": "XBillingCycleDay"}
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    [(near_id, near)] = [(k, a) for k, a in alarms.items() if a["Properties"].get("MetricName") == POST_CAP_USED_METRIC]
    assert near["Condition"] == "HasPostCap"  # an enterprise plan has no cap to near
    assert near["Properties"]["Threshold"] == 80
    assert near["Properties"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    [reached] = [a for a in alarms.values() if a["Properties"].get("MetricName") == POST_CAP_REACHED_METRIC]
    assert reached["Properties"]["Dimensions"] == [{"Name": "service", "Value": "collect"}]
    assert near_id == "XPostCapNearAlarm"
