"""`make deploy`'s pre-deploy check (devkit/followthrough_devkit/predeploy.py) against moto, and against
the template, samconfig.toml, the Makefile and cfn-lint's region data it must agree with."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from moto import mock_aws

from followthrough_devkit import predeploy
from tests.support.template import ROOT, source_template, translated

SECRET, SIGNING = "/followthrough/x-client-secret", "/followthrough/signing-key"
CONSUMER, BEARER = "/followthrough/x-consumer-secret", "/followthrough/x-app-bearer-token"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.session.Session()


def _samconfig(tmp_path: Path, region: str = "", **overrides: str) -> Path:
    path = tmp_path / "samconfig.toml"
    lines = ["version = 0.1", "[default.deploy.parameters]", 'stack_name = "followthrough"']
    if region:
        lines.append(f'region = "{region}"')
    if overrides:
        joined = " ".join(f'{k}=\\"{v}\\"' for k, v in overrides.items())
        lines.append(f'parameter_overrides = "{joined}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def _put_secrets(region: str) -> None:
    ssm = boto3.client("ssm", region_name=region)
    ssm.put_parameter(Name=SECRET, Value="-starts-with-a-dash", Type="SecureString")
    ssm.put_parameter(Name=SIGNING, Value="k" * 48, Type="SecureString")
    ssm.put_parameter(Name=CONSUMER, Value="consumer-secret", Type="SecureString")


def _run(
    tmp_path: Path,
    session: Any,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    environ: dict[str, str] | None = None,
    config: Path | None = None,
) -> tuple[int, str]:
    status = predeploy.main(
        ["--config", str(config or _samconfig(tmp_path)), *args], environ=environ or {}, session=session
    )
    out = capsys.readouterr()
    return status, out.out + out.err


def _sandboxed(session: Any, production: bool) -> Any:
    """sesv2 GetAccount is not in moto: the session's sesv2 clients answer from a Stubber."""
    real_client = session.client

    def client(name: str, **kwargs: Any) -> Any:
        made = real_client(name, **kwargs)
        if name == "sesv2":
            stubber = Stubber(made)
            stubber.add_response(
                "get_account",
                {"ProductionAccessEnabled": production, "SendingEnabled": True, "DedicatedIpAutoWarmupEnabled": False},
            )
            stubber.activate()
        return made

    session.client = client
    return session


def test_parameters_in_another_region_are_found_missing_with_the_commands_to_fix_it(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _put_secrets("us-east-1")  # where `aws ssm put-parameter` went without --region
    status, out = _run(tmp_path, _sandboxed(aws, True), capsys, environ={"AWS_DEFAULT_REGION": "eu-west-1"})
    assert status == 1
    assert "region eu-west-1 (from AWS_DEFAULT_REGION)" in out
    for name in (SECRET, SIGNING, CONSUMER):
        assert f"SSM parameter {name} " in out and "does not exist in eu-west-1" in out
    assert BEARER not in out  # read only once Activity API events come (XWebhookId)
    # the commands name the region, and --value=... survives a value starting with "-"
    assert out.count("aws ssm put-parameter --region eu-west-1 --type SecureString") == 3
    assert "--value='YOUR_X_CLIENT_SECRET'" in out and '--value="$(python3' in out


def test_a_ready_region_passes_and_a_plain_string_parameter_does_not(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _put_secrets("eu-west-1")
    boto3.client("ses", region_name="eu-west-1").verify_domain_identity(Domain="followthrough.example")
    config = _samconfig(tmp_path, region="eu-west-1", SenderEmail="digest@followthrough.example", XClientId="c")
    status, out = _run(tmp_path, _sandboxed(aws, True), capsys, config=config)
    assert status == 0, out
    assert "region eu-west-1 (from samconfig.toml)" in out and "sends as the verified SES identity" in out
    events = _samconfig(tmp_path, region="eu-west-1", SenderEmail="digest@followthrough.example", XWebhookId="42")
    status, out = _run(tmp_path, _sandboxed(aws, True), capsys, config=events)
    assert status == 1 and f"SSM parameter {BEARER} (XAppBearerTokenParameter) does not exist" in out
    boto3.client("ssm", region_name="eu-west-1").put_parameter(Name=SIGNING, Value="x", Type="String", Overwrite=True)
    status, out = _run(tmp_path, _sandboxed(aws, True), capsys, config=config)
    assert status == 1 and f"SSM parameter {SIGNING} is a String, not a SecureString" in out


def test_a_subdomain_sender_needs_sender_identity(aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _put_secrets("eu-west-1")
    boto3.client("ses", region_name="eu-west-1").verify_domain_identity(Domain="followthrough.example")
    sender = {"SenderEmail": "digest@mail.followthrough.example"}
    status, out = _run(
        tmp_path, _sandboxed(aws, True), capsys, config=_samconfig(tmp_path, region="eu-west-1", **sender)
    )
    assert status == 1 and "deploy with SenderIdentity=followthrough.example" in out
    status, out = _run(
        tmp_path,
        _sandboxed(aws, True),
        capsys,
        config=_samconfig(tmp_path, region="eu-west-1", SenderIdentity="followthrough.example", **sender),
    )
    assert status == 0, out


def test_an_unverified_sender_is_not_ready(aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _put_secrets("eu-west-1")
    boto3.client("ses", region_name="us-east-1").verify_domain_identity(Domain="followthrough.example")
    status, out = _run(
        tmp_path,
        _sandboxed(aws, True),
        capsys,
        config=_samconfig(tmp_path, region="eu-west-1", SenderEmail="digest@followthrough.example"),
    )
    assert status == 1 and "no verified SES identity for digest@followthrough.example in eu-west-1" in out


@pytest.mark.parametrize(
    ("sandbox_parameter", "advice"), [("false", "deploy with SesSandbox=true"), ("true", "request production access")]
)
def test_the_sandbox_is_a_warning_that_says_what_it_means(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox_parameter: str, advice: str
) -> None:
    _put_secrets("eu-west-1")
    status, out = _run(
        tmp_path,
        _sandboxed(aws, False),
        capsys,
        "--region",
        "eu-west-1",
        config=_samconfig(tmp_path, SesSandbox=sandbox_parameter),
    )
    assert status == 0
    assert "warning: the account is in the SES sandbox here: only verified recipients get mail" in out
    assert advice in out


def test_no_region_an_unsupported_one_and_a_transient_failure_are_told_apart(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out = _run(tmp_path, aws, capsys)
    assert status == 2 and "export AWS_DEFAULT_REGION=" in out
    status, out = _run(tmp_path, aws, capsys, "--region", "eu-south-2")
    assert status == 1 and "eu-south-2 has no SES configuration sets" in out
    status, out = _run(tmp_path, aws, capsys, "--region", "not a region")
    assert status == 2

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://ssm.eu-west-1.amazonaws.com")

    real_client = aws.client

    def client(name: str, **kwargs: Any) -> Any:
        made = real_client(name, **kwargs)
        monkeypatch.setattr(made, "get_parameters", unreachable, raising=False)
        return made

    monkeypatch.setattr(aws, "client", client)
    status, out = _run(tmp_path, aws, capsys, "--region", "eu-west-1")
    assert status == 3 and "try again" in out


def test_print_region_and_parameter_overrides_as_sam_saves_them(tmp_path: Path) -> None:
    config = _samconfig(tmp_path, region="ap-south-1", SenderEmail="a@b.example", XClientId="id with space")
    assert predeploy.parameter_overrides(predeploy.samconfig(config)) == {
        "SenderEmail": "a@b.example",
        "XClientId": "id with space",
    }
    # a plain file for the SAM CLI's Python (`make deploy` runs it so): only boto3 and the standard library
    sam_python = ROOT / ".venv-sam" / "bin" / "python"
    python = str(sam_python) if sam_python.exists() else sys.executable
    done = subprocess.run(  # noqa: S603
        [
            python,
            str(ROOT / "devkit/followthrough_devkit/predeploy.py"),
            "--config",
            str(config),
            "--print-region",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.strip() == "ap-south-1"


def test_the_template_defaults_are_read_through_its_tags() -> None:
    defaults = predeploy.template_defaults(ROOT / "template.yaml")
    expected = {
        name: str(spec["Default"]) for name, spec in source_template()["Parameters"].items() if "Default" in spec
    }
    assert defaults == expected
    assert set(predeploy.SECRET_PARAMETERS) <= set(defaults)


def test_unsupported_regions_are_those_lacking_a_resource_type_of_the_template() -> None:
    import cfnlint

    providers = Path(cfnlint.__file__).parent / "data" / "schemas" / "providers"
    types = {r["Type"] for r in translated()["Resources"].values()}
    lacking = {
        p.stem for p in providers.glob("*.json") if p.stem != "sam" and not types <= set(json.loads(p.read_text()))
    }
    assert lacking == predeploy.UNSUPPORTED_REGIONS
    # and the README names each of them
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{region}`" in readme for region in sorted(lacking))


def test_make_deploy_checks_before_it_deploys_in_the_checked_region() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndeploy:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("predeploy.py") < recipe.index("$(MAKE) build") < recipe.index("$(SAM) deploy")
    # both ways of calling sam deploy get the region the check used
    assert recipe.count('deploy --region "$$region"') + recipe.count('deploy --guided --region "$$region"') == 2
