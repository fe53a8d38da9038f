"""Secrets in AWS: SSM SecureString parameters named by the environment, read once, only where named."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import botocore.client
import pytest
from moto import mock_aws

from followthrough import bootstrap, config

SECRET, KEY = "client-secret-value", "signing-key-value-" + "s" * 30


@pytest.fixture
def ssm_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict]]]:
    for name in (*config.env_names(config.Settings), *config._SECRET_PARAMS, "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    calls: list[tuple[str, dict]] = []
    original = botocore.client.BaseClient._make_api_call

    def record(client: object, operation: str, params: dict) -> object:
        if client.meta.service_model.service_name == "ssm":  # type: ignore[attr-defined]
            calls.append((operation, params))
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    with mock_aws():
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name="/followthrough/x-client-secret", Value=SECRET, Type="SecureString")
        ssm.put_parameter(Name="/followthrough/signing-key", Value=KEY, Type="SecureString")
        calls.clear()
        yield calls


def test_named_secrets_are_read_in_one_call_on_first_use_only(ssm_calls: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_CLIENT_SECRET_PARAM", "/followthrough/x-client-secret")
    monkeypatch.setenv("SIGNING_KEY_PARAM", "/followthrough/signing-key")
    # a function's services are built on its first event, once: the settings they were built from
    handler = bootstrap.lambda_handler(lambda services: lambda event, context: services.settings)
    assert ssm_calls == []
    first = handler({}, None)
    assert (first.x_client_secret, first.signing_key) == (SECRET, KEY)
    assert handler({}, None) is first
    [(operation, params)] = ssm_calls
    assert operation == "GetParameters" and params["WithDecryption"] is True
    assert sorted(params["Names"]) == ["/followthrough/signing-key", "/followthrough/x-client-secret"]
    assert SECRET not in repr(first) and KEY not in repr(first)


def test_a_function_not_given_a_parameter_name_never_calls_ssm(ssm_calls: list) -> None:
    assert config.load_settings(os.environ).x_client_secret == ""
    assert ssm_calls == []


def test_a_value_in_the_environment_wins_and_only_the_rest_is_read(
    ssm_calls: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_CLIENT_SECRET", "from-the-environment")
    monkeypatch.setenv("X_CLIENT_SECRET_PARAM", "/followthrough/x-client-secret")
    monkeypatch.setenv("SIGNING_KEY_PARAM", "/followthrough/signing-key")
    settings = config.load_settings(os.environ)
    assert (settings.x_client_secret, settings.signing_key) == ("from-the-environment", KEY)
    assert [params["Names"] for _, params in ssm_calls] == [["/followthrough/signing-key"]]


def test_a_missing_parameter_is_a_clear_error_naming_it(ssm_calls: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNING_KEY_PARAM", "/followthrough/not-created")
    with pytest.raises(config.SecretUnavailable, match="/followthrough/not-created"):
        config.load_settings(os.environ)
