"""template.yaml, translated by SAM: runtimes, handlers, logs, alarms, secrets, and local/aws.py in step with it.

The helpers here (``translated``, ``Intrinsics``) are shared with
test_template_iam.py and test_deploy_moto.py.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import json
import re
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from followthrough import config, steps
from followthrough_devkit import aws as local_aws

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
REGION, ACCOUNT = "us-east-1", "123456789012"
CODE_BUCKET = "followthrough-code"
# Lambda runtimes the project's code and bytecode are built for (functions/Makefile)
RUNTIMES = {"python3.12"}


@cache
def source_template() -> dict[str, Any]:
    return dict(yaml_parse(TEMPLATE.read_text()))


def code_key(logical_id: str) -> str:
    return f"{logical_id}.zip"


@cache
def _translated() -> dict[str, Any]:
    template = copy.deepcopy(source_template())
    # `sam deploy` uploads the built code and puts S3 locations here
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{CODE_BUCKET}/{code_key(logical_id)}"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = f"s3://{CODE_BUCKET}/{code_key(logical_id)}"
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
    return dict(Translator({}, Parser(), boto_session=session).translate(template, parameter_values={}))


def translated() -> dict[str, Any]:
    """template.yaml as CloudFormation receives it after the SAM transform (a fresh copy)."""
    return copy.deepcopy(_translated())


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def functions() -> dict[str, dict[str, Any]]:
    return resources_of(translated(), "AWS::Lambda::Function")


def ref_id(node: Any) -> str:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points at."""
    if isinstance(node, dict) and "Ref" in node:
        return str(node["Ref"])
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        target = node["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    raise AssertionError(f"not a reference: {node!r}")


# -- intrinsic functions -----------------------------------------------------------------------


class Intrinsics:
    """Resolves CloudFormation intrinsic functions against known physical values.

    ``refs`` maps a logical id or parameter name to what ``Ref`` returns,
    ``attrs`` maps ``"<logical id>.<attribute>"`` to what ``Fn::GetAtt`` returns.
    A reference nobody provided raises, so a template change cannot slip
    through a test unresolved.
    """

    def __init__(self, refs: dict[str, str], attrs: dict[str, str]) -> None:
        self.refs = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                     "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "followthrough", **refs}
        self.attrs = attrs

    def ref(self, name: str) -> str:
        if name not in self.refs:
            raise KeyError(f"the test knows no value for Ref {name}")
        return self.refs[name]

    def attr(self, name: str) -> str:
        if name not in self.attrs:
            raise KeyError(f"the test knows no value for Fn::GetAtt {name}")
        return self.attrs[name]

    def _sub(self, text: str, local: dict[str, str]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return local[name]
            return self.attr(name) if "." in name else self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                return self.attr(".".join(value) if isinstance(value, list) else value)
            if key == "Fn::Sub":
                if isinstance(value, str):
                    return self._sub(value, {})
                text, variables = value
                return self._sub(text, {k: str(self.resolve(v)) for k, v in variables.items()})
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = value
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Join":
                separator, items = value
                return separator.join(str(i) for i in self.resolve(items))
            if key.startswith("Fn::"):
                raise KeyError(f"the test cannot resolve {key}")
        return {k: self.resolve(v) for k, v in node.items()}


def parameter_defaults(**given: str) -> dict[str, str]:
    """Every template parameter: its default, or a value from ``given`` (which wins)."""
    values = {}
    for name, spec in source_template()["Parameters"].items():
        if name in given:
            values[name] = given[name]
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            raise KeyError(f"parameter {name} has no default: give the test a value")
    return values


def load_handler(logical_id: str) -> Callable[..., Any]:
    """The callable a function's ``Handler`` names, imported from its ``CodeUri`` folder in the repo."""
    props = source_template()["Resources"][logical_id]["Properties"]
    module_path, _, attribute = props["Handler"].rpartition(".")
    path = ROOT / props["CodeUri"] / (module_path.replace(".", "/") + ".py")
    assert path.is_file(), f"{logical_id}: handler module {path} does not exist"
    spec = importlib.util.spec_from_file_location(f"handler_{logical_id}_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, attribute, None)
    assert callable(handler), f"{logical_id}: {props['Handler']} is not a callable in {path}"
    return handler  # type: ignore[no-any-return]


# -- tests -------------------------------------------------------------------------------------


FUNCTION_IDS = sorted(resources_of(_translated(), "AWS::Lambda::Function"))


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


def iter_statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        statements = policy["PolicyDocument"]["Statement"]
        yield from statements if isinstance(statements, list) else [statements]
