"""What the sign-up pages accept: the form's fields, the links' query strings, and their error messages.

Each input is an ``Annotated`` type that Powertools validates (``enable_validation``)
and documents in the OpenAPI document; the messages are what a person reads
next to the field when a value is refused.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Cookie, Form, Query
from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from followthrough.subscriber import (
    WEEKDAYS,
    DigestSection,
    OptInRead,
    OptionalRead,
    Subscriber,
    known_time_zones,
)

# Bump the version whenever the wording changes: each subscriber records the version they agreed to.
CONSENT_VERSION = "2026-11-22"
CONSENT_TEXT = (
    "I agree that Followthrough links my X account to this email address, reads my activity on X "
    "(posts, replies, mentions, likes, follows, followers and direct messages) once a week, and emails "
    "me a weekly digest. I can unsubscribe, or delete everything stored about me, at any time."
)

CSRF_COOKIE = "ft_csrf"
TOKEN_MAX = 512  # signed links are ~100 characters; anything far longer is not ours
DEFAULT_HOUR = 8

# Regions of the IANA database whose zones people live in (not the legacy aliases such as "US/Eastern").
_REGIONS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


@cache
def time_zones() -> dict[str, list[str]]:
    """Region -> zone names, for the form's grouped list."""
    grouped: dict[str, list[str]] = {"": ["UTC"]}
    for name in sorted(known_time_zones()):
        region = name.split("/", 1)[0]
        if region in _REGIONS and "/" in name:
            grouped.setdefault(region, []).append(name)
    return grouped


def _known_zone(value: str) -> str:
    if not any(value in zones for zones in time_zones().values()):
        raise ValueError("choose a time zone from the list")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("this link is incomplete")
    return value.strip()


def deliverable_address(value: str) -> str:
    """An address SES can deliver to, as it will be stored: ASCII before the @, the domain in punycode.

    SES (like most mail systems) takes no SMTPUTF8 addresses, so ``ü@example.com`` is refused here with a
    message rather than accepted and never delivered; ``name@bücher.example`` becomes ``name@xn--bcher-kva.example``.
    """
    local = value.strip().rpartition("@")[0]
    if local and not local.isascii():
        raise PydanticCustomError("email_ascii", "only ASCII before the @")
    if "=?" in local and "?=" in local:  # an RFC 2047 encoded-word: a header trick, never a mailbox
        raise PydanticCustomError("email_encoded_word", "an encoded word is not an address")
    # imported on the first address checked: its rules cost the cold start of every sign-up request
    # (the redirect to X, one-click unsubscribe) about a tenth of the handler's import
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise PydanticCustomError("email_invalid", "not an email address") from None
    return str(checked.ascii_email)


EmailField = Annotated[
    str,
    AfterValidator(deliverable_address),
    Form(max_length=254, description="where the digest and the confirmation go", json_schema_extra={"format": "email"}),
]
ConsentField = Annotated[Literal["yes"], Form(description=f"consent version {CONSENT_VERSION}: {CONSENT_TEXT}")]
DayField = Annotated[int, Form(ge=0, le=6, description="0 = Monday")]
HourField = Annotated[int, Form(ge=0, le=23, description="local hour the digest should arrive")]
# The zones' enum is added by web.openapi_document: listing them here would read the list on every cold start.
ZoneField = Annotated[str, AfterValidator(_known_zone), Form(max_length=64, description="IANA time zone")]
CsrfField = Annotated[str, Form(max_length=TOKEN_MAX, description="anti-forgery token from the page's form")]
# no length limit here: a mangled cookie is replaced, never a reason to refuse the page
CsrfCookie = Annotated[str | None, Cookie(description="anti-forgery cookie")]
LinkToken = Annotated[str, AfterValidator(_not_blank), Query(max_length=TOKEN_MAX, description="signed link token")]
FormLinkToken = Annotated[str, AfterValidator(_not_blank), Form(max_length=TOKEN_MAX, description="signed link token")]
OptionalLinkToken = Annotated[str | None, Query(max_length=TOKEN_MAX, description="signed link token")]
ShownSectionsField = Annotated[
    list[DigestSection] | None,
    Form(max_length=8, description="the digest sections to show (ticked boxes); the others are left out"),
]
OptionalReadsField = Annotated[
    list[OptionalRead | OptInRead] | None,
    Form(max_length=4, description="the optional X reads to make (ticked boxes); the others are turned off"),
]
PauseField = Annotated[int, Form(ge=0, le=8, description="weeks without a digest from now; 0 = not paused")]
OAuthState = Annotated[str, AfterValidator(_not_blank), Query(max_length=TOKEN_MAX, description="the state sent to X")]
OAuthCode = Annotated[str | None, Query(max_length=TOKEN_MAX, description="X's authorization code")]
OAuthError = Annotated[str | None, Query(max_length=200, description="X's error, e.g. access_denied")]


class SignupForm(BaseModel):
    """A validated sign-up form."""

    email: str
    digest_day: int = Field(ge=0, le=6)
    digest_hour: int = Field(DEFAULT_HOUR, ge=0, le=23)
    time_zone: str
    consent_version: str
    consent_at: datetime


# Field -> what to tell the person when the value is refused (by pydantic error type; "" = any other).
FIELD_MESSAGES: dict[str, dict[str, str]] = {
    "email": {
        "missing": "Enter your email address.",
        "email_ascii": "We cannot send email to an address with accents or other non-Latin letters before "
        "the @. Enter an address with only a-z, digits and . _ - + before the @.",
        "": "Enter an email address like name@example.com.",
    },
    "consent": {
        "": "Tick the box to agree that your X account will be linked to this email address. "
        "Followthrough cannot send a digest without it."
    },
    "digest_day": {"": "Choose the day the digest should arrive."},
    "digest_hour": {"": "Choose the time the digest should arrive."},
    "time_zone": {"": "Choose your time zone from the list."},
}
FIELD_ORDER = ["email", "digest_day", "digest_hour", "time_zone", "consent"]


def field_errors(errors: list[dict[str, object]]) -> dict[str, str]:
    """Powertools/pydantic errors -> one message per form field, in the form's order."""
    found: dict[str, str] = {}
    for error in errors:
        loc = error.get("loc") or ()
        name = str(loc[-1]) if isinstance(loc, (list, tuple)) and loc else ""
        if name in FIELD_MESSAGES and name not in found:
            messages = FIELD_MESSAGES[name]
            found[name] = messages.get(str(error.get("type")), messages[""])
    return {name: found[name] for name in FIELD_ORDER if name in found}


def describe_schedule(subscriber: Subscriber | SignupForm) -> str:
    """ "Mondays at 08:00 (Europe/Paris)"."""
    return f"{WEEKDAYS[subscriber.digest_day]}s at {subscriber.digest_hour:02d}:00 ({subscriber.time_zone})"
