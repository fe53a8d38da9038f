"""Before `sam deploy`: is the chosen region ready for this stack? (`make deploy` runs this first.)

Checks, in the region the deploy will use, what CloudFormation cannot check for us and what
would otherwise show up only as every function failing its first call:

- the region has every resource type of the template (the SES configuration-set resources do
  not exist in a few regions: ``UNSUPPORTED_REGIONS``);
- the SSM SecureString parameters exist there (a parameter put in another region is the
  classic first-hour loss: the functions then fail with ``SecretUnavailable``): the X client
  secret, the signing key, the X consumer secret (the webhook), and the X app-only bearer token
  once ``XWebhookId`` is set;
- the sender has a verified SES identity there, and the template will let the roles send as it
  (a subdomain sender of a verified parent domain needs ``SenderIdentity``);
- whether the account is still in the SES sandbox (a warning: only verified recipients get mail).

It reads samconfig.toml (region, parameter_overrides) and the template's defaults, and needs
only boto3, so it runs with the SAM CLI's Python (``.venv-sam/bin/python``) as a plain file.
Exit status: 0 ready, 1 not ready (the output says what to do), 2 no region or a bad
samconfig.toml, 3 AWS could not be asked (network, throttling): try again.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

# Regions without AWS::SES::ConfigurationSet and AWS::SES::ConfigurationSetEventDestination in
# CloudFormation (cfn-lint's resource specifications; tests/test_predeploy.py keeps this in step).
UNSUPPORTED_REGIONS = frozenset(
    {
        "ap-east-1",
        "ap-east-2",
        "ap-southeast-4",
        "ap-southeast-6",
        "ap-southeast-7",
        "cn-north-1",
        "cn-northwest-1",
        "eu-south-2",
        "mx-central-1",
    }
)
SECRET_PARAMETERS = ("XClientSecretParameter", "SigningKeyParameter", "XConsumerSecretParameter")
# read only once X Activity API events come (XWebhookId set)
EVENTS_SECRET_PARAMETERS = ("XAppBearerTokenParameter",)
_TRANSIENT_CODES = {
    "Throttling",
    "ThrottlingException",
    "ServiceUnavailable",
    "InternalFailure",
    "RequestTimeout",
    "TooManyRequestsException",
}
_CREATE_COMMAND = {
    "XClientSecretParameter": "aws ssm put-parameter --region {region} --type SecureString --name {name} "
    "--value='YOUR_X_CLIENT_SECRET'",
    "SigningKeyParameter": "aws ssm put-parameter --region {region} --type SecureString --name {name} "
    "--value=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')\"",
    "XConsumerSecretParameter": "aws ssm put-parameter --region {region} --type SecureString --name {name} "
    "--value='YOUR_X_API_KEY_SECRET'",
    "XAppBearerTokenParameter": "aws ssm put-parameter --region {region} --type SecureString --name {name} "
    "--value='YOUR_X_APP_BEARER_TOKEN'",
}


class NotAsked(Exception):
    """AWS could not be asked right now (network, throttling): a retry may succeed."""


@dataclass
class Report:
    region: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    def text(self) -> str:
        lines = [f"pre-deploy check, region {self.region}:"]
        lines += [f"  ok: {n}" for n in self.notes]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  NOT READY: {p}" for p in self.problems]
        return "\n".join(lines)


# -- what the deploy will use -------------------------------------------------------------------


def _ignore_tags(loader: Any, suffix: str, node: Any) -> Any:
    return None


def template_defaults(template: Path) -> dict[str, str]:
    """The template's parameter defaults (CloudFormation's short-form tags are read as nothing)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", _ignore_tags)
    document = yaml.load(template.read_text(), Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    return {name: str(spec["Default"]) for name, spec in document.get("Parameters", {}).items() if "Default" in spec}


def samconfig(path: Path) -> dict[str, Any]:
    """The deploy section of samconfig.toml merged over its global one (as sam reads them)."""
    if not path.exists():
        return {}
    default = tomllib.loads(path.read_text()).get("default", {})
    return {**default.get("global", {}).get("parameters", {}), **default.get("deploy", {}).get("parameters", {})}


def parameter_overrides(config: dict[str, Any]) -> dict[str, str]:
    """``parameter_overrides`` as sam saves it: ``Name="value" Other="value"`` (or a list of those)."""
    raw = config.get("parameter_overrides", "")
    words = [w for item in raw for w in shlex.split(item)] if isinstance(raw, list) else shlex.split(raw)
    out = {}
    for word in words:
        name, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"samconfig.toml: parameter_overrides has {word!r}, not Name=value")
        out[name] = value
    return out


def choose_region(
    given: str | None, config: dict[str, Any], environ: dict[str, str], profile_region: Callable[[], str | None]
) -> tuple[str, str]:
    """The region `sam deploy` will use, and where that came from."""
    if given:
        return given, "REGION"
    if config.get("region"):
        return str(config["region"]), "samconfig.toml"
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if environ.get(name):
            return environ[name], name
    region = profile_region()
    if region:
        return region, "your AWS CLI profile"
    raise NoRegionError()


# -- the checks -----------------------------------------------------------------------------------


def _ask(call: Callable[[], Any], what: str) -> Any:
    """One AWS call; a refusal is returned as the ClientError, a transient failure raises NotAsked."""
    try:
        return call()
    except NoCredentialsError as exc:
        raise SystemExit(
            f"pre-deploy check: no AWS credentials ({exc}); run `aws configure` or set AWS_PROFILE"
        ) from exc
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _TRANSIENT_CODES:
            raise NotAsked(f"{what}: {exc}") from exc
        return exc
    except BotoCoreError as exc:
        raise NotAsked(f"{what}: {exc}") from exc


def identity_candidates(address: str) -> list[str]:
    """The SES identities an address can send as, most specific first: itself, its domain, parent domains."""
    labels = address.split("@", 1)[-1].split(".")
    return [address] + [".".join(labels[i:]) for i in range(len(labels) - 1)]


def check_secrets(report: Report, ssm: Any, names: dict[str, str]) -> None:
    answer = _ask(
        lambda: ssm.get_parameters(Names=list(names.values()), WithDecryption=False), "reading the SSM parameters"
    )
    if isinstance(answer, ClientError):
        report.problems.append(f"could not read the SSM parameters {sorted(names.values())}: {answer}")
        return
    found = {p["Name"]: p for p in answer.get("Parameters", [])}
    for parameter, name in names.items():
        if name not in found:
            report.problems.append(
                f"SSM parameter {name} ({parameter}) does not exist in {report.region}; create it there:\n"
                f"      {_CREATE_COMMAND[parameter].format(region=report.region, name=name)}"
            )
        elif found[name].get("Type") != "SecureString":
            report.problems.append(
                f"SSM parameter {name} is a {found[name].get('Type')}, not a SecureString: "
                f"delete it and create it again with --type SecureString"
            )
        else:
            report.notes.append(f"SSM parameter {name} exists (SecureString)")


def check_sender(report: Report, ses: Any, sender: str, sender_identity: str) -> None:
    candidates = identity_candidates(sender)
    answer = _ask(lambda: ses.get_identity_verification_attributes(Identities=candidates), "reading the SES identities")
    if isinstance(answer, ClientError):
        report.problems.append(f"could not read the SES identities {candidates}: {answer}")
        return
    attributes = answer.get("VerificationAttributes", {})
    verified = [c for c in candidates if attributes.get(c, {}).get("VerificationStatus") == "Success"]
    if not verified:
        report.problems.append(
            f"no verified SES identity for {sender} in {report.region} (checked {candidates}); "
            "verify the address or its domain in this region's SES console"
        )
        return
    identity = verified[0]  # SES sends as the most specific verified identity
    allowed = {sender, candidates[1]} | ({sender_identity} if sender_identity else set())
    if identity not in allowed:
        report.problems.append(
            f"{sender} sends as the verified identity {identity}, which the roles may not "
            f"use: deploy with SenderIdentity={identity}"
        )
    else:
        report.notes.append(f"{sender} sends as the verified SES identity {identity}")


def check_sandbox(report: Report, sesv2: Any, sandbox_parameter: str) -> None:
    answer = _ask(lambda: sesv2.get_account(), "reading the SES account")
    if isinstance(answer, ClientError):
        report.warnings.append(f"could not tell whether the account is in the SES sandbox: {answer}")
        return
    if answer.get("ProductionAccessEnabled"):
        if sandbox_parameter == "true":
            report.warnings.append("SES production access is granted: deploy with SesSandbox=false")
        return
    message = (
        "the account is in the SES sandbox here: only verified recipients get mail (sign-ups to "
        "any other address fail, with an EmailSendRejected alarm); request production access"
    )
    report.warnings.append(
        message + ("" if sandbox_parameter == "true" else ", and to test meanwhile deploy with SesSandbox=true")
    )


def check(region: str, parameters: dict[str, str], session: Any) -> Report:
    """Every check against ``region``; ``parameters`` are the stack's (overrides over defaults)."""
    report = Report(region)
    if region in UNSUPPORTED_REGIONS:
        report.problems.append(
            f"{region} has no SES configuration sets in CloudFormation, which this stack "
            "needs; choose another region (README: Deploy)"
        )
        return report
    secrets = SECRET_PARAMETERS + (EVENTS_SECRET_PARAMETERS if parameters.get("XWebhookId") else ())
    check_secrets(report, session.client("ssm", region_name=region), {p: parameters[p] for p in secrets})
    sender = parameters.get("SenderEmail", "")
    if sender:
        check_sender(report, session.client("ses", region_name=region), sender, parameters.get("SenderIdentity", ""))
    else:
        report.notes.append("SenderEmail not chosen yet (the guided deploy asks): its SES identity is not checked")
    check_sandbox(report, session.client("sesv2", region_name=region), parameters.get("SesSandbox", "false"))
    return report


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None, session: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    root = Path(__file__).resolve().parents[2]
    parser.add_argument(
        "--region",
        default=None,
        help="the region to deploy to (default: samconfig.toml, then AWS_REGION, AWS_DEFAULT_REGION, the profile's)",
    )
    parser.add_argument("--config", type=Path, default=root / "samconfig.toml")
    parser.add_argument("--template", type=Path, default=root / "template.yaml")
    parser.add_argument("--print-region", action="store_true", help="print the region that would be checked")
    args = parser.parse_args(argv)
    environ = dict(os.environ) if environ is None else environ
    session = session or boto3.session.Session()
    try:
        config = samconfig(args.config)
        overrides = parameter_overrides(config)
        region, source = choose_region(args.region, config, environ, lambda: session.region_name)
    except NoRegionError:
        print(
            "pre-deploy check: no region chosen. Choose one and use it for every command, e.g.\n"
            "    export AWS_DEFAULT_REGION=eu-west-1",
            file=sys.stderr,
        )
        return 2
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        print(f"pre-deploy check: {exc}", file=sys.stderr)
        return 2
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
        print(f"pre-deploy check: {region!r} (from {source}) is not an AWS region name", file=sys.stderr)
        return 2
    if args.print_region:
        print(region)
        return 0
    parameters = {**template_defaults(args.template), **overrides}
    try:
        report = check(region, parameters, session)
    except NotAsked as exc:
        print(f"pre-deploy check: could not ask AWS ({exc}); this is usually passing: try again", file=sys.stderr)
        return 3
    print(report.text().replace(f"region {region}:", f"region {region} (from {source}):", 1))
    return 0 if report.ready else 1


if __name__ == "__main__":
    sys.exit(main())
