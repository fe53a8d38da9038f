"""The translated template deployed into moto's CloudFormation: the stack comes up with its table,
queues, roles, functions and hourly rule, wired to each other, and the deployed dispatch function's
environment reaches the deployed table and queue.

moto's CloudFormation skips the resource types it does not model (the HTTP
API, SES, alarms, SNS subscriptions) and some properties (the table's TTL and
point-in-time recovery, the functions' architecture); test_template.py checks
those statically.
"""

from __future__ import annotations

import ast
import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from followthrough.bootstrap import from_environment
from followthrough.messages import CollectRequest
from followthrough_devkit.lambda_runtime import LambdaContext, load_function, scheduled_event
from tests.support.aws import for_in_process_moto
from tests.support.factories import MONDAY_8, subscriber
from tests.support.template import ACCOUNT, CODE_BUCKET, REGION, code_key, resources_of, translated

# the template tier (`make template`): the template itself, translated, deployed into moto and run
pytestmark = pytest.mark.template

STACK = "followthrough"
PARAMETERS = {"SenderEmail": "digest@followthrough.example", "XClientId": "x-client-id"}


@dataclass
class Stack:
    resources: dict[str, dict[str, str]]  # logical id -> the stack's resource summary
    outputs: dict[str, str]

    def physical(self, logical_id: str) -> str:
        return self.resources[logical_id]["PhysicalResourceId"]


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@contextmanager
def deployments(stacks: dict[str, dict[str, str]]) -> Iterator[dict[str, Stack]]:
    """The template deployed in one moto, once per stack name with its parameters (moto's mocks do not nest)."""
    template = translated()
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for_in_process_moto(patch)
        # what `sam deploy` uploads: a zip per function and layer
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        for logical_id in {
            **resources_of(template, "AWS::Lambda::Function"),
            **resources_of(template, "AWS::Lambda::LayerVersion"),
        }:
            s3.put_object(
                Bucket=CODE_BUCKET,
                Key=code_key(logical_id),
                Body=_zip({"app.py": "def handler(event, context):\n    return None\n"}),
            )
        cloudformation = boto3.client("cloudformation")
        created = {}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
            for stack_name, parameters in stacks.items():
                cloudformation.create_stack(
                    StackName=stack_name,
                    TemplateBody=json.dumps(template),
                    Capabilities=["CAPABILITY_IAM"],
                    Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                )
                [described] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
                assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
                summaries = cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
                created[stack_name] = Stack(
                    {r["LogicalResourceId"]: r for r in summaries},
                    {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
                )
            yield created


SANDBOX_STACK = f"{STACK}-sandbox"
SANDBOX_PARAMETERS = {
    **PARAMETERS,
    "SenderEmail": "digest@mail.followthrough.example",
    "SenderIdentity": "followthrough.example",
    "SesSandbox": "true",
}


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[str, Stack]]:
    with deployments({STACK: PARAMETERS, SANDBOX_STACK: SANDBOX_PARAMETERS}) as created:
        yield created


@pytest.fixture(scope="module")
def stack(stacks: dict[str, Stack]) -> Stack:
    return stacks[STACK]


def _policies(role_name: str) -> dict[str, dict[str, Any]]:
    iam = boto3.client("iam")
    out = {}
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        # moto keeps a CloudFormation role's inline policy as a dict and answers with its repr
        out[name] = ast.literal_eval(document) if isinstance(document, str) else document
    return out


def test_in_sandbox_mode_only_the_sending_roles_may_address_verified_recipients(stacks: dict[str, Stack]) -> None:
    parameters, sandboxed = SANDBOX_PARAMETERS, stacks[SANDBOX_STACK]
    assert "SesSandboxRecipientsPolicy" in sandboxed.resources
    for logical_id in ("CollectRole", "DigestRole", "SignupRole", "DispatchRole", "BouncesRole"):
        policies = _policies(sandboxed.physical(logical_id))
        sends = logical_id in ("CollectRole", "DigestRole", "SignupRole")
        assert ("ses-sandbox-recipients" in policies) == sends, logical_id
        if sends:
            [statement] = policies["ses-sandbox-recipients"]["Statement"]
            assert statement["Resource"].endswith(f":{ACCOUNT}:identity/*")
            assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": parameters["SenderEmail"]}}
            resources = {
                r
                for s in policies[logical_id.removesuffix("Role").lower()]["Statement"]
                for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
            }
            assert f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/followthrough.example" in resources


def test_the_table_is_on_demand_with_the_due_index(stack: Stack) -> None:
    dynamodb = boto3.client("dynamodb")
    name = stack.physical("Table")
    table = dynamodb.describe_table(TableName=name)["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["due"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert stack.outputs["TableName"] == name


def test_work_queues_redrive_to_their_dead_letter_queues(stack: Stack) -> None:
    sqs = boto3.client("sqs")
    for work, dead_letter in (("CollectQueue", "CollectDeadLetterQueue"), ("DigestQueue", "DigestDeadLetterQueue")):
        attributes = sqs.get_queue_attributes(QueueUrl=stack.physical(work), AttributeNames=["All"])["Attributes"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=stack.physical(dead_letter), AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq_arn and int(redrive["maxReceiveCount"]) == 20
    assert "BouncesDeadLetterQueue" in stack.resources


def test_each_function_has_its_own_role_with_its_own_policy(stack: Stack) -> None:
    iam = boto3.client("iam")
    lambda_ = boto3.client("lambda")
    table_arn = boto3.client("dynamodb").describe_table(TableName=stack.physical("Table"))["Table"]["TableArn"]
    roles = set()
    for logical_id in ("DispatchFunction", "CollectFunction", "DigestFunction", "SignupFunction", "BouncesFunction"):
        function = lambda_.get_function_configuration(FunctionName=stack.physical(logical_id))
        assert function["Runtime"] == "python3.12"
        role_name = function["Role"].rsplit("/", 1)[1]
        assert role_name == stack.physical(logical_id.removesuffix("Function") + "Role")
        roles.add(role_name)
        [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        if isinstance(document, str):
            # moto keeps a CloudFormation role's inline policy as a dict and answers with its repr
            document = ast.literal_eval(document)
        resources = {
            r
            for s in document["Statement"]
            for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        }
        assert table_arn in resources or f"{table_arn}/index/due" in resources
        assert "*" not in resources
    assert len(roles) == 5


def test_the_hourly_rule_targets_the_dispatch_function(stack: Stack) -> None:
    events = boto3.client("events")
    rule = events.describe_rule(Name=stack.physical("DispatchFunctionHourly"))
    assert rule["ScheduleExpression"] == "cron(0 * * * ? *)" and rule["State"] == "ENABLED"
    [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    function = boto3.client("lambda").get_function_configuration(FunctionName=stack.physical("DispatchFunction"))
    assert target["Arn"] == function["FunctionArn"]


def test_queues_feed_their_functions_and_logs_are_kept(stack: Stack) -> None:
    lambda_ = boto3.client("lambda")
    sqs = boto3.client("sqs")
    for function, queue in (("CollectFunction", "CollectQueue"), ("DigestFunction", "DigestQueue")):
        [mapping] = lambda_.list_event_source_mappings(FunctionName=stack.physical(function))["EventSourceMappings"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=stack.physical(queue), AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        assert mapping["EventSourceArn"] == queue_arn
    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"]
    retention = {g["logGroupName"]: g.get("retentionInDays") for g in groups}
    for name in ("dispatch", "collect", "digest", "signup", "bounces"):
        assert retention[f"/aws/lambda/{STACK}-{name}"] == 30
    assert stack.physical("TokenKey") in {k["KeyId"] for k in boto3.client("kms").list_keys()["Keys"]}


def test_the_deployed_dispatch_environment_reaches_the_deployed_table_and_queue(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    configuration = boto3.client("lambda").get_function_configuration(FunctionName=stack.physical("DispatchFunction"))
    environment: dict[str, Any] = configuration["Environment"]["Variables"]
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    from_environment().repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    result = load_function("dispatch").handler(scheduled_event(MONDAY_8), LambdaContext("followthrough-dispatch"))
    assert result["queued"] == 1
    [message] = boto3.client("sqs").receive_message(QueueUrl=stack.physical("CollectQueue"))["Messages"]
    assert CollectRequest.model_validate_json(message["Body"]).subscriber_id == "sub-1"
