"""template.yaml as the tests read it: the source, SAM's translation, intrinsic functions resolved,
handlers loaded from the repo (shared by tests/test_template*.py and tests/test_deploy_*.py)."""

from __future__ import annotations

import copy
import importlib.util
import re
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from followthrough_devkit.aws import REGION

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ACCOUNT = "123456789012"  # moto's default account (REGION: the local account's, re-exported)
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
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
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


_NO_VALUE = object()  # what Ref AWS::NoValue resolves to: dropped from the list or mapping holding it


class Intrinsics:
    """Resolves CloudFormation intrinsic functions against known physical values.

    ``refs`` maps a logical id or parameter name to what ``Ref`` returns,
    ``attrs`` maps ``"<logical id>.<attribute>"`` to what ``Fn::GetAtt`` returns.
    A reference nobody provided raises, so a template change cannot slip
    through a test unresolved.
    """

    def __init__(self, refs: dict[str, str], attrs: dict[str, str], conditions: dict[str, Any] | None = None) -> None:
        self.refs = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "followthrough",
            **refs,
        }
        self.attrs = attrs
        # the template's Conditions section, evaluated against refs when an Fn::If asks
        self.conditions = conditions if conditions is not None else source_template().get("Conditions", {})

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise KeyError(f"the template has no condition {name}")
        return self._truth(self.conditions[name])

    def _truth(self, node: Any) -> bool:
        ((key, value),) = node.items()
        if key == "Condition":
            return self.condition(value)
        if key == "Fn::Equals":
            left, right = (self.resolve(v) for v in value)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self._truth(value[0])
        if key == "Fn::And":
            return all(self._truth(v) for v in value)
        if key == "Fn::Or":
            return any(self._truth(v) for v in value)
        raise KeyError(f"the test cannot evaluate the condition {key}")

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
            return [r for r in (self.resolve(n) for n in node) if r is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._function(key, value)
        return {k: r for k, r in ((k, self.resolve(v)) for k, v in node.items()) if r is not _NO_VALUE}

    def _function(self, key: str, value: Any) -> Any:
        """One intrinsic function (``Ref`` or ``Fn::*``) applied."""
        if key == "Ref":
            return _NO_VALUE if value == "AWS::NoValue" else self.ref(value)
        if key == "Fn::If":
            name, if_true, if_false = value
            return self.resolve(if_true if self.condition(name) else if_false)
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
        raise KeyError(f"the test cannot resolve {key}")


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


FUNCTION_IDS = sorted(resources_of(_translated(), "AWS::Lambda::Function"))


def iter_statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        statements = policy["PolicyDocument"]["Statement"]
        yield from statements if isinstance(statements, list) else [statements]
