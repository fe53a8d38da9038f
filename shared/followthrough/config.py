"""Settings: environment variables parsed into pydantic models, each field named by its variable.

Deploy-critical settings (table, queues, sender, X client id, public address,
signing key, KMS key) have no default here: the dev kit supplies local ones.
``followthrough.bootstrap`` hands this module the environment; it reads none itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

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
    # A first run reads only the top of the followers list (who follows back comes with the following list,
    # connection_status): next week's "new followers" stop at it. All five leaving within a week is rare;
    # then that week's new followers are not measured (pipeline/collect.py, _new_followers).
    first_run_followers: int = Field(5, ge=1)
    # What re-reading the following list may spend, accrued each week up to one whole list (docs/decisions.md
    # 2026-12-02: the followee set never knowingly stale); a long list is re-read across several weeks.
    followee_reread_usd_per_week: float = Field(1.0, ge=0, validation_alias="FOLLOWEE_REREAD_USD_PER_WEEK")
    # While the followee set may be stale, the accounts a digest could name are looked up first (this many).
    followees_verified: int = Field(10, ge=0)
    dm_window_days: int = 30
    # the opt-in search for mentions without the @ spends at most this much a week, after every other read
    untagged_search_usd: float = Field(0.25, ge=0)
    # Each read's share of the week's budget, by weight: a read spends at most its share until every
    # read has had its turn, then the reads still unfinished share what is left, in READ_ORDER.
    read_weights: dict[str, float] = {
        "tweets": 1.0,
        "mentions": 1.0,
        "liked_tweets": 1.0,
        "following": 2.0,
        "dm_events": 1.0,
        "followers": 2.0,
    }
    # A first likes read stops at the passive window (X has no since/start_time on liked_tweets), and
    # reads at most this many likes in any one run however recent they are.
    likes_read_cap: int = Field(10_000, ge=100)
    prices: XPrices = XPrices()


class PostCapConfig(BaseModel):
    """X's monthly cap on the Posts one pay-per-use app may read (pricing.mdx, post-cap.mdx): 3 million a
    billing cycle (the post-cap page once said 2 million), counted for the whole app; None on an enterprise
    plan. Posts, mentions and liked posts all count; users and DM events do not."""

    model_config = ConfigDict(populate_by_name=True)

    cap: int | None = Field(3_000_000, ge=1, validation_alias="X_POST_CAP")
    # the day of the month X resets the cap (the usage endpoint's ``cap_reset_day``), at 00:00 UTC
    cycle_day: int = Field(1, ge=1, le=28, validation_alias="X_BILLING_CYCLE_DAY")
    # reservations may run this many days ahead of an even pace through the cycle: a whole week's
    # subscribers fit on its first day, and the last week of a cycle is not starved by the first
    pace_lead_days: float = Field(7, ge=0, le=31, validation_alias="X_POST_CAP_PACE_DAYS")
    # Posts a first run is expected to read (90 days of posts, 14 of mentions, the liked history;
    # bench/api_cost.py measures it): reserved before it starts, settled with what it read
    first_run_posts: int = Field(2_500, ge=1, validation_alias="X_FIRST_RUN_POST_READS")

    @field_validator("cap", mode="before")
    @classmethod
    def _no_cap(cls, value: object) -> object:
        # "none": an enterprise plan, which has no monthly Post cap
        return None if isinstance(value, str) and value.strip().lower() in ("none", "0") else value


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
    # X Activity API events (follows, unfollows, revocations) by webhook; without a webhook id every
    # subscriber is polled only. The consumer secret answers X's CRC and checks its signatures; the
    # app-only bearer token deletes subscriptions (x-api/webhooks/quickstart.mdx, activity/quickstart.mdx).
    x_webhook_id: str = Field("", pattern=r"^[0-9]{0,19}$", validation_alias="X_WEBHOOK_ID")
    x_consumer_secret: str = Field("", repr=False, validation_alias="X_CONSUMER_SECRET")
    x_app_bearer_token: str = Field("", repr=False, validation_alias="X_APP_BEARER_TOKEN")
    # a self-serve app holds at most 1,500 subscriptions (x-api/activity/introduction.mdx); we use this share
    activity_subscription_limit: int = Field(1500, ge=0, validation_alias="X_ACTIVITY_SUBSCRIPTION_LIMIT")
    activity_subscription_share: float = Field(0.9, gt=0, le=1, validation_alias="X_ACTIVITY_SUBSCRIPTION_SHARE")
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
    post_cap: PostCapConfig = PostCapConfig()

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
    parts = {"collector": CollectorConfig.model_validate(values), "post_cap": PostCapConfig.model_validate(values)}
    return Settings.model_validate({**values, **parts})


# In AWS the secrets are SSM SecureString parameters, never environment values:
# the function's environment names the parameter, e.g. X_CLIENT_SECRET_PARAM
# stands for X_CLIENT_SECRET. Only functions that use a secret are given its name.
_SECRET_PARAMS = {
    "X_CLIENT_SECRET_PARAM": "X_CLIENT_SECRET",
    "SIGNING_KEY_PARAM": "SIGNING_KEY",
    "X_CONSUMER_SECRET_PARAM": "X_CONSUMER_SECRET",
    "X_APP_BEARER_TOKEN_PARAM": "X_APP_BEARER_TOKEN",
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
