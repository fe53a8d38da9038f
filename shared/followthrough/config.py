"""Settings: environment variables parsed into pydantic models, each field named by its variable.

Deploy-critical settings (table, queues, sender, X client id, public address,
signing key, KMS key) have no default here: the dev kit supplies local ones.
``followthrough.bootstrap`` hands this module the environment; it reads none itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

# X's API and OAuth hosts; anything else configured as the API base is a stand-in
X_HOSTS = ("https://api.twitter.com", "https://twitter.com")


class XPrices(BaseModel):
    """Pay-per-use prices in USD per resource returned (see x-api-facts.md)."""

    post: float = 0.005
    user: float = 0.010
    dm_event: float = 0.010
    like: float = 0.001


class CollectorConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    weekly_budget_usd: float = Field(1.50, gt=0, validation_alias="WEEKLY_BUDGET_USD")
    # The first collection reads history the ledger needs; it is allowed more.
    first_run_budget_usd: float = Field(30.0, gt=0, validation_alias="FIRST_RUN_BUDGET_USD")
    first_run_lookback_days: int = Field(90, ge=7, le=365)
    # Re-read the whole followers list at most this often when counts drift.
    full_followers_reread_weeks: int = Field(8, ge=1)
    # Never read more than this many followers in one run (large accounts).
    followers_read_cap: int = Field(5000, ge=1)
    dm_window_days: int = 30
    # the opt-in search for mentions without the @ spends at most this much a week, after every other read
    untagged_search_usd: float = Field(0.25, ge=0)
    prices: XPrices = XPrices()


class ConfigurationError(Exception):
    """A setting the function needs is missing: raised when the services are built (a cold start), never later."""


# Deploy-critical settings have no default: ``None`` means "not given to this function" (each function is
# given only what it needs, template.yaml), and asking for one that is missing is a ConfigurationError.
Required = str | None


class Settings(BaseModel):
    """Every setting, each field named by its environment variable (``validation_alias``)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    table_name: Required = Field(None, validation_alias="TABLE_NAME")
    collect_queue_url: Required = Field(None, validation_alias="COLLECT_QUEUE_URL")
    digest_queue_url: Required = Field(None, validation_alias="DIGEST_QUEUE_URL")
    # where a message that cannot succeed goes, with its reason (pipeline.delivery); without one SQS's own
    # redrive takes it after maxReceiveCount
    collect_dlq_url: str = Field("", validation_alias="COLLECT_DLQ_URL")
    digest_dlq_url: str = Field("", validation_alias="DIGEST_DLQ_URL")
    sender_email: Required = Field(None, validation_alias="SENDER_EMAIL")
    x_client_id: Required = Field(None, validation_alias="X_CLIENT_ID")
    public_base_url: HttpUrl | None = Field(None, validation_alias="PUBLIC_BASE_URL")
    signing_key: Required = Field(None, min_length=16, repr=False, validation_alias="SIGNING_KEY")
    token_kms_key_id: Required = Field(None, validation_alias="TOKEN_KMS_KEY_ID")
    x_client_secret: str = Field("", repr=False, validation_alias="X_CLIENT_SECRET")
    x_api_base_url: str = Field("https://api.twitter.com", validation_alias="X_API_BASE_URL")
    ses_configuration_set: str = Field("", validation_alias="SES_CONFIGURATION_SET")
    default_digest_day: int = Field(0, ge=0, le=6, validation_alias="DEFAULT_DIGEST_DAY")
    # first backoff between retries of an X 5xx (doubles each time; bounded retries)
    x_retry_backoff_s: float = Field(0.5, ge=0, le=5, validation_alias="X_RETRY_BACKOFF_S")
    # longest delay before rate-limited work comes back (SQS allows at most 900 s)
    max_requeue_delay_s: int = Field(900, ge=0, le=900, validation_alias="MAX_REQUEUE_DELAY_S")
    # a transiently failed SQS record comes back after this, doubling per receive, at most the max
    retry_backoff_s: float = Field(30.0, ge=0, le=900, validation_alias="RETRY_BACKOFF_S")
    max_retry_backoff_s: int = Field(900, ge=0, le=43200, validation_alias="MAX_RETRY_BACKOFF_S")
    # at most one confirmation email per address in this many seconds (sign-up abuse limit)
    confirmation_cooldown_s: int = Field(600, ge=0, validation_alias="CONFIRMATION_COOLDOWN_S")
    # ``followthrough-dev serve``: the local sign-up server's port (0 picks a free one)
    serve_port: int = Field(8000, ge=0, le=65535, validation_alias="PORT")
    collector: CollectorConfig = CollectorConfig()

    def require(self, name: str) -> str:
        """The deploy-critical setting ``name``; a ConfigurationError naming its variable when it is missing."""
        value = getattr(self, name)
        if value is None or value == "":
            alias = type(self).model_fields[name].validation_alias
            raise ConfigurationError(f"{alias} is not set: this function cannot start without it")
        return str(value).rstrip("/") if name == "public_base_url" else str(value)


def env_names(model: type[BaseModel]) -> dict[str, str]:
    """Environment variable -> field name, as the model's fields name them."""
    return {str(f.validation_alias): name for name, f in model.model_fields.items() if f.validation_alias}


def settings_from(environ: Mapping[str, str]) -> Settings:
    """Settings from environment variables (an empty value counts as unset)."""
    values = {name: value for name, value in environ.items() if value}
    return Settings.model_validate({**values, "collector": CollectorConfig.model_validate(values)})


# In AWS the secrets are SSM SecureString parameters, never environment values:
# the function's environment names the parameter, e.g. X_CLIENT_SECRET_PARAM
# stands for X_CLIENT_SECRET. Only functions that use a secret are given its name.
_SECRET_PARAMS = {
    "X_CLIENT_SECRET_PARAM": "X_CLIENT_SECRET",
    "SIGNING_KEY_PARAM": "SIGNING_KEY",
}


class SecretUnavailable(Exception):
    pass


def secrets_from_parameters(environ: Mapping[str, str]) -> dict[str, str]:
    """The secrets whose SSM parameter names ``environ`` gives, as the variables they stand for (one call)."""
    wanted = {
        environ[param]: name for param, name in _SECRET_PARAMS.items() if environ.get(param) and not environ.get(name)
    }
    if not wanted:
        return {}
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        values = SSMProvider().get_parameters_by_name({parameter: {} for parameter in wanted}, decrypt=True, max_age=0)
    except GetParameterError as exc:
        raise SecretUnavailable(f"cannot read the secrets {sorted(wanted)} from SSM: {exc}") from None
    return {wanted[parameter]: str(value) for parameter, value in values.items()}


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from ``environ`` (the process's environment), secrets named by SSM parameter read first.

    Called once per process by ``followthrough.bootstrap`` (a cold start), never at import.
    """
    values = dict(environ)
    values.update(secrets_from_parameters(values))
    return settings_from(values)
