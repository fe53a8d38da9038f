"""template.yaml, translated by SAM: runtimes, handlers, logs, alarms, secrets, and local/aws.py in step with it.

The helpers (``translated``, ``Intrinsics``, ...) are in tests/support/template.py.
"""

from __future__ import annotations

import inspect
import json
import re

import pytest

from followthrough import config, steps
from followthrough_devkit import aws as local_aws
from tests.support.template import (
    FUNCTION_IDS,
    RUNTIMES,
    Intrinsics,
    load_handler,
    ref_id,
    resources_of,
    source_template,
    translated,
)


def test_the_template_declares_the_five_functions() -> None:
    assert FUNCTION_IDS == ["BouncesFunction", "CollectFunction", "DigestFunction", "DispatchFunction",
                            "SignupFunction"]


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
    assert log_group["Properties"]["LogGroupName"] == {
        "Fn::Sub": "/aws/lambda/" + props["FunctionName"]["Fn::Sub"]}
    assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == logical_id.removesuffix(
        "Function").lower()
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
        assert ref_id(redrive["deadLetterTargetArn"]) in dead_letter and 3 <= redrive["maxReceiveCount"] <= 10
    for mapping in resources_of(template, "AWS::Lambda::EventSourceMapping").values():
        props = mapping["Properties"]
        queue = queues[ref_id(props["EventSourceArn"])]
        function = template["Resources"][ref_id(props["FunctionName"])]["Properties"]
        # AWS refuses an event source whose visibility timeout is shorter than the function's timeout
        assert queue["Properties"]["VisibilityTimeout"] >= function["Timeout"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_alarms_watch_every_dead_letter_queue_and_every_function() -> None:
    template = translated()
    alarms = resources_of(template, "AWS::CloudWatch::Alarm").values()
    watched = {(a["Properties"]["Namespace"], ref_id(a["Properties"]["Dimensions"][0]["Value"]))
               for a in alarms if a["Properties"]["Namespace"].startswith("AWS/")}
    dead_letter = {k for k in resources_of(template, "AWS::SQS::Queue") if k.endswith("DeadLetterQueue")}
    assert {("AWS/SQS", q) for q in dead_letter} | {("AWS/Lambda", f) for f in FUNCTION_IDS} == watched
    # X's 402 (credits exhausted) stops collection for everyone: someone must hear of it
    [credits] = [a["Properties"] for a in alarms if a["Properties"]["Namespace"] == "Followthrough"]
    assert credits["MetricName"] == steps.CREDITS_METRIC
    assert credits["Dimensions"] == [{"Name": "service", "Value": "collect"}]
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail" and subscription["Properties"]["Protocol"] == "email"


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
            parameter = template["Parameters"][ref_id(variables[param_var])]
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
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"}
    assert outputs["OAuthCallbackUrl"]["Value"]["Fn::Sub"].endswith("/oauth/callback")


def test_bounces_and_complaints_reach_the_bounce_handler() -> None:
    template = translated()
    destination = template["Resources"]["EmailFeedbackDestination"]["Properties"]
    assert ref_id(destination["ConfigurationSetName"]) == "EmailConfigurationSet"
    assert sorted(destination["EventDestination"]["MatchingEventTypes"]) == ["bounce", "complaint"]
    topic = ref_id(destination["EventDestination"]["SnsDestination"]["TopicARN"])
    subscriptions = [s["Properties"] for s in resources_of(template, "AWS::SNS::Subscription").values()
                     if s["Properties"]["Protocol"] == "lambda"]
    assert [(ref_id(s["TopicArn"]), ref_id(s["Endpoint"])) for s in subscriptions] == [(topic, "BouncesFunction")]


def test_intrinsics_resolve_subs_selects_and_refuse_the_unknown() -> None:
    values = Intrinsics({"SenderEmail": "digest@mail.example", "Table": "t"}, {"Table.Arn": "arn:table/t"})
    node = {"Fn::Sub": ["${AWS::Region}:${Domain}:${Table.Arn}:${!Literal}",
                        {"Domain": {"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "SenderEmail"}]}]}}]}
    assert values.resolve(node) == "us-east-1:mail.example:arn:table/t:${Literal}"
    with pytest.raises(KeyError):
        values.resolve({"Ref": "Unknown"})
