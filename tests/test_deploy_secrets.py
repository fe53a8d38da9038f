"""Secrets in AWS: SSM SecureString parameters named by the environment, read once, only where named."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import botocore.client
import pytest
from moto import mock_aws

from followthrough import config

SECRET, KEY = "client-secret-value", "signing-key-value-" + "s" * 30


@pytest.fixture
def ssm_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict]]]:
    for name in (*config._ENV, *config._SECRET_PARAMS, "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
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
        config.settings.cache_clear()
        yield calls
    config.settings.cache_clear()


def test_named_secrets_are_read_in_one_call_on_first_use_only(ssm_calls: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_CLIENT_SECRET_PARAM", "/followthrough/x-client-secret")
    monkeypatch.setenv("SIGNING_KEY_PARAM", "/followthrough/signing-key")
    first = config.settings()
    assert (first.x_client_secret, first.signing_key) == (SECRET, KEY)
    assert config.settings() is first
    [(operation, params)] = ssm_calls
    assert operation == "GetParameters" and params["WithDecryption"] is True
    assert sorted(params["Names"]) == ["/followthrough/signing-key", "/followthrough/x-client-secret"]
    assert SECRET not in repr(first) and KEY not in repr(first)


def test_a_function_not_given_a_parameter_name_never_calls_ssm(ssm_calls: list) -> None:
    assert config.settings().x_client_secret == ""
    assert ssm_calls == []


def test_a_value_in_the_environment_wins_and_only_the_rest_is_read(ssm_calls: list,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_CLIENT_SECRET", "from-the-environment")
    monkeypatch.setenv("X_CLIENT_SECRET_PARAM", "/followthrough/x-client-secret")
    monkeypatch.setenv("SIGNING_KEY_PARAM", "/followthrough/signing-key")
    settings = config.settings()
    assert (settings.x_client_secret, settings.signing_key) == ("from-the-environment", KEY)
    assert [params["Names"] for _, params in ssm_calls] == [["/followthrough/signing-key"]]


def test_a_missing_parameter_is_a_clear_error_naming_it(ssm_calls: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNING_KEY_PARAM", "/followthrough/not-created")
    with pytest.raises(config.SecretUnavailable, match="/followthrough/not-created"):
        config.settings()
