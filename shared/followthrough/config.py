"""Environment, parsed once into pydantic models.

The only module besides the adapters' factories that reads ``os.environ``.
Defaults are the embedded local setup (moto + the X stand-in), so ``make demo``
needs no configuration at all.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, HttpUrl

# X's API and OAuth hosts; anything else configured as the API base is a stand-in
X_HOSTS = ("https://api.twitter.com", "https://twitter.com")


class XPrices(BaseModel):
    """Pay-per-use prices in USD per resource returned (see x-api-facts.md)."""

    post: float = 0.005
    user: float = 0.010
    dm_event: float = 0.010
    like: float = 0.001


class CollectorConfig(BaseModel):
    weekly_budget_usd: float = Field(1.50, gt=0)
    # The first collection reads history the ledger needs; it is allowed more.
    first_run_budget_usd: float = Field(30.0, gt=0)
    first_run_lookback_days: int = Field(90, ge=7, le=365)
    # Re-read the whole followers list at most this often when counts drift.
    full_followers_reread_weeks: int = Field(8, ge=1)
    # Never read more than this many followers in one run (large accounts).
    followers_read_cap: int = Field(5000, ge=1)
    dm_window_days: int = 30
    prices: XPrices = XPrices()


class Settings(BaseModel):
    table_name: str = "followthrough"
    collect_queue_url: str = ""
    digest_queue_url: str = ""
    # where a message that cannot succeed goes, with its reason (pipeline.delivery)
    collect_dlq_url: str = ""
    digest_dlq_url: str = ""
    sender_email: str = "digest@followthrough.example"
    x_api_base_url: str = "https://api.twitter.com"
    x_client_id: str = "followthrough-local"
    x_client_secret: str = Field("", repr=False)
    public_base_url: HttpUrl = HttpUrl("http://127.0.0.1:8000")
    signing_key: str = Field("local-development-signing-key-change-me", min_length=16, repr=False)
    token_kms_key_id: str = ""
    ses_configuration_set: str = ""
    default_digest_day: int = Field(0, ge=0, le=6)
    # first backoff between retries of an X 5xx (doubles each time; bounded retries)
    x_retry_backoff_s: float = Field(0.5, ge=0, le=5)
    # longest delay before rate-limited work comes back (SQS allows at most 900 s)
    max_requeue_delay_s: int = Field(900, ge=0, le=900)
    # a transiently failed SQS record comes back after this, doubling per receive, at most the max
    retry_backoff_s: float = Field(30.0, ge=0, le=900)
    max_retry_backoff_s: int = Field(900, ge=0, le=43200)
    # at most one confirmation email per address in this many seconds (sign-up abuse limit)
    confirmation_cooldown_s: int = Field(600, ge=0)
    # ``followthrough serve``: the local sign-up server's port (0 picks a free one)
    serve_port: int = Field(8000, ge=0, le=65535)
    collector: CollectorConfig = CollectorConfig()


_ENV = {
    "TABLE_NAME": "table_name",
    "COLLECT_QUEUE_URL": "collect_queue_url",
    "DIGEST_QUEUE_URL": "digest_queue_url",
    "COLLECT_DLQ_URL": "collect_dlq_url",
    "DIGEST_DLQ_URL": "digest_dlq_url",
    "RETRY_BACKOFF_S": "retry_backoff_s",
    "MAX_RETRY_BACKOFF_S": "max_retry_backoff_s",
    "SENDER_EMAIL": "sender_email",
    "X_API_BASE_URL": "x_api_base_url",
    "X_CLIENT_ID": "x_client_id",
    "X_CLIENT_SECRET": "x_client_secret",
    "PUBLIC_BASE_URL": "public_base_url",
    "SIGNING_KEY": "signing_key",
    "TOKEN_KMS_KEY_ID": "token_kms_key_id",
    "SES_CONFIGURATION_SET": "ses_configuration_set",
    "DEFAULT_DIGEST_DAY": "default_digest_day",
    "MAX_REQUEUE_DELAY_S": "max_requeue_delay_s",
    "X_RETRY_BACKOFF_S": "x_retry_backoff_s",
    "CONFIRMATION_COOLDOWN_S": "confirmation_cooldown_s",
    "PORT": "serve_port",
}
_COLLECTOR_ENV = {
    "WEEKLY_BUDGET_USD": "weekly_budget_usd",
    "FIRST_RUN_BUDGET_USD": "first_run_budget_usd",
}


def settings_from(environ: dict[str, str]) -> Settings:
    values: dict[str, object] = {field: environ[name] for name, field in _ENV.items() if environ.get(name)}
    collector = {field: environ[name] for name, field in _COLLECTOR_ENV.items() if environ.get(name)}
    if collector:
        values["collector"] = CollectorConfig.model_validate(collector)
    return Settings.model_validate(values)


# In AWS the secrets are SSM SecureString parameters, never environment values:
# the function's environment names the parameter, e.g. X_CLIENT_SECRET_PARAM
# stands for X_CLIENT_SECRET. Only functions that use a secret are given its name.
_SECRET_PARAMS = {
    "X_CLIENT_SECRET_PARAM": "X_CLIENT_SECRET",
    "SIGNING_KEY_PARAM": "SIGNING_KEY",
}


class SecretUnavailable(Exception):
    pass


def secrets_from_parameters(environ: dict[str, str]) -> dict[str, str]:
    """The secrets whose SSM parameter names ``environ`` gives, as the variables they stand for (one call)."""
    wanted = {environ[param]: name for param, name in _SECRET_PARAMS.items()
              if environ.get(param) and not environ.get(name)}
    if not wanted:
        return {}
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        values = SSMProvider().get_parameters_by_name({parameter: {} for parameter in wanted}, decrypt=True,
                                                      max_age=0)
    except GetParameterError as exc:
        raise SecretUnavailable(f"cannot read the secrets {sorted(wanted)} from SSM: {exc}") from None
    return {wanted[parameter]: str(value) for parameter, value in values.items()}


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings; cached, so call ``settings.cache_clear()`` after changing the environment.

    Secrets named by SSM parameter are read here, on first use (never at import), once per process.
    """
    environ = dict(os.environ)
    environ.update(secrets_from_parameters(environ))
    return settings_from(environ)
