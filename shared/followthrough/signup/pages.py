"""The sign-up pages and the confirmation email, rendered with Jinja2 (autoescaped: every field is hostile input)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from markupsafe import Markup

from followthrough.signup.forms import CONSENT_TEXT, DEFAULT_HOUR, time_zones
from followthrough.subscriber import DIGEST_SECTIONS, OPT_IN_READS, OPTIONAL_READS, WEEKDAYS
from followthrough.templating import environment

if TYPE_CHECKING:
    from jinja2 import Environment


# The sign-up form guesses the time zone in the browser: on a fresh form still at the default, the browser's own
# zone is chosen if the list has it. Without JavaScript the list stays at UTC and the form works the same.
TIME_ZONE_GUESS = (
    '(function(){var s=document.getElementById("time_zone");if(!s||!s.hasAttribute("data-guess"))return;'
    "var z;try{z=Intl.DateTimeFormat().resolvedOptions().timeZone;}catch(e){return;}"
    "for(var i=0;i<s.options.length;i++){if(s.options[i].value===z){s.value=z;return;}}})();"
)
# what the pages' Content-Security-Policy allows to run: this one script, nothing else
SCRIPT_SOURCES = "'sha256-" + base64.b64encode(hashlib.sha256(TIME_ZONE_GUESS.encode()).digest()).decode() + "'"


@dataclass(frozen=True)
class Action:
    """A page's one button: a POST form with hidden fields."""

    url: str
    label: str
    fields: Mapping[str, str] = field(default_factory=dict)
    danger: bool = False


def _environment() -> Environment:
    return environment("templates/signup")


def signup_form(
    *,
    csrf_token: str,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    default_day: int = 0,
) -> str:
    """The sign-up page; ``values`` refill the fields after a refusal, ``errors`` sit next to them."""
    shown = {
        "email": "",
        "digest_day": str(default_day),
        "digest_hour": str(DEFAULT_HOUR),
        "time_zone": "UTC",
        "consent": "",
    }
    shown.update({k: v for k, v in (values or {}).items() if k in shown})
    return (
        _environment()
        .get_template("form.html.j2")
        .render(
            title="Sign up",
            csrf_token=csrf_token,
            values=shown,
            errors=dict(errors or {}),
            weekdays=WEEKDAYS,
            time_zones=time_zones(),
            consent_text=CONSENT_TEXT,
            guess_time_zone=not values,
            time_zone_guess=Markup(TIME_ZONE_GUESS),  # noqa: S704 (our own constant script)
        )
    )


def settings_form(
    *,
    token: str,
    csrf_token: str,
    username: str,
    masked_email: str,
    values: Mapping[str, str],
    paused_until: str | None,
    export_url: str,
    hidden_sections: Sequence[str] = (),
    skipped_reads: Sequence[str] = (),
    opted_in_reads: Sequence[str] = (),
    saved: bool = False,
) -> str:
    """The preference centre: day, time and time zone, and a pause; ``saved``: say the form was saved."""
    return (
        _environment()
        .get_template("settings.html.j2")
        .render(
            title="Your digest settings",
            token=token,
            csrf_token=csrf_token,
            username=username,
            masked_email=masked_email,
            values=dict(values),
            errors={},
            weekdays=WEEKDAYS,
            time_zones=time_zones(),
            paused_until=paused_until,
            saved=saved,
            export_url=export_url,
            guess_time_zone=False,
            sections=DIGEST_SECTIONS,
            hidden_sections=set(hidden_sections),
            reads=OPTIONAL_READS,
            skipped_reads=set(skipped_reads),
            opt_in_reads=OPT_IN_READS,
            opted_in_reads=set(opted_in_reads),
        )
    )


def message(title: str, paragraphs: Sequence[str], *, action: Action | None = None, back: bool = False) -> str:
    """A page that tells one thing, optionally with one button."""
    return (
        _environment()
        .get_template("message.html.j2")
        .render(title=title, paragraphs=list(paragraphs), action=action, back=back)
    )


def confirmation_email(
    *, username: str, confirm_url: str, public_base_url: str, replaces: str | None = None
) -> tuple[str, str]:
    """(text, HTML) of the double opt-in email; ``replaces``: the X account the confirmation would replace."""
    return _email(
        "confirm_email", username=username, confirm_url=confirm_url, public_base_url=public_base_url, replaces=replaces
    )


def in_use_email(*, username: str, public_base_url: str) -> tuple[str, str]:
    """(text, HTML) of the email to an address another subscription uses, when someone signs up with it."""
    return _email("in_use_email", username=username, public_base_url=public_base_url)


def _email(name: str, **context: object) -> tuple[str, str]:
    env = _environment()
    return (env.get_template(f"{name}.txt.j2").render(**context), env.get_template(f"{name}.html.j2").render(**context))


def mask_email(address: str) -> str:
    """``p•••@example.com``: enough to recognise one's own address on a page reached through a link."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"
