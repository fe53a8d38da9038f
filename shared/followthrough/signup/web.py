"""The sign-up HTTP API: routes (a Powertools ``Router``), error pages, and the checks that run before routing.

The handler hands each request the sign-up service and the settings through
the router's context (``app.append_context``); nothing here builds them.

``refuse_early`` runs on the raw HttpApi event before Powertools parses it:
an oversized body gets 413, a body that is not UTF-8 gets 400, and a form
POST without a valid anti-forgery token gets 403, so such requests never
reach validation or a route. Every other refusal is a page with a 4xx status;
a 5xx means something of ours or X is broken.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast, get_args
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
)
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from followthrough.config import X_HOSTS, Settings
from followthrough.links import Purpose, link
from followthrough.signup import csrf, pages
from followthrough.signup.errors import SignupError
from followthrough.signup.forms import (
    CONSENT_VERSION,
    CSRF_COOKIE,
    TOKEN_MAX,
    ConsentField,
    CsrfCookie,
    CsrfField,
    DayField,
    EmailField,
    FormLinkToken,
    HourField,
    LinkToken,
    OAuthCode,
    OAuthError,
    OAuthState,
    OptionalLinkToken,
    OptionalReadsField,
    PauseField,
    ShownSectionsField,
    SignupForm,
    ZoneField,
    describe_schedule,
    field_errors,
    time_zones,
)
from followthrough.subscriber import DigestSection, OptInRead, OptionalRead

if TYPE_CHECKING:
    from followthrough.signup.service import Completed, SignupService
    from followthrough.subscriber import Subscriber

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024  # the sign-up form is well under 1 KB
HTML = "text/html; charset=utf-8"
# forms that carry the anti-forgery token (POST /unsubscribe is RFC 8058 one-click: its signed token suffices)
CSRF_PROTECTED = {
    ("POST", "/signup"),
    ("POST", "/confirm"),
    ("POST", "/delete"),
    ("POST", "/settings"),
    ("POST", "/export"),
}
FORM_TYPE = "application/x-www-form-urlencoded"
HSTS = "max-age=63072000; includeSubDomains"  # two years: the API is only ever served over https

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated


def _settings() -> Settings:
    return cast(Settings, router.context["settings"])


def _service() -> SignupService:
    return cast("SignupService", router.context["signup"])


def _html_responses(*statuses: int) -> dict[int, OpenAPIResponse]:
    described = {
        200: "the page",
        303: "on to X's authorization page",
        400: "a refused request, explained",
        403: "the form did not come from this site",
        404: "nothing stored for this link",
        409: "the X account or address belongs to another subscription",
        410: "a confirmation link from an email about an earlier request",
        413: "the body is too large",
        415: "an unsupported body type",
        422: "the form again, with a message at each refused field",
        503: "X is not answering",
    }
    page: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
        "text/html": {"schema": {"type": "string"}}
    }
    return {
        status: {"description": described[status], **({"content": page} if status != 303 else {})}
        for status in statuses
    }


# -- responses ---------------------------------------------------------------------------------


def _security_headers(config: Settings) -> dict[str, str]:
    x_base = config.x_api_base_url.rstrip("/")
    if x_base in X_HOSTS:
        authorize = "https://twitter.com https://x.com"
    else:
        parts = urlsplit(x_base)
        authorize = f"{parts.scheme}://{parts.netloc}"
    return {
        "Content-Security-Policy": f"default-src 'none'; script-src {pages.SCRIPT_SOURCES}; "
        "style-src 'unsafe-inline'; img-src 'self' data:; "
        f"form-action 'self' {authorize}; frame-ancestors 'none'; base-uri 'none'",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",  # links carry tokens: never pass them on
        "Strict-Transport-Security": HSTS,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


def _csrf_cookie(nonce: str) -> Cookie:
    secure = _settings().require("public_base_url").startswith("https://")
    return Cookie(
        name=CSRF_COOKIE,
        value=nonce,
        path="/",
        secure=secure,
        http_only=True,
        same_site=SameSite.LAX_MODE,
        max_age=csrf.MAX_AGE_S,
    )


def page(body: str, status: int = 200, *, set_nonce: str | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=HTML,
        body=body,
        headers=_security_headers(_settings()),
        cookies=[_csrf_cookie(set_nonce)] if set_nonce else None,
    )


def message_page(status: int, title: str, *paragraphs: str, back: bool = True) -> Response[str]:
    return page(pages.message(title, paragraphs, back=back), status)


def _csrf_form(cookie: str | None) -> tuple[str, str | None]:
    """(signed token for a form, nonce to set as the cookie or None if the browser has it already)."""
    nonce, fresh = csrf.browser_nonce(cookie)
    return csrf.form_token(_settings().require("signing_key"), nonce), nonce if fresh else None


# -- before routing ----------------------------------------------------------------------------


def _raw_response(config: Settings, status: int, title: str, text: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": HTML, **_security_headers(config)},
        "cookies": [],
        "body": pages.message(title, [text], back=True),
        "isBase64Encoded": False,
    }


def _cookie(event: APIGatewayProxyEventV2, name: str) -> str | None:
    for cookie in event.cookies or []:
        key, _, value = cookie.partition("=")
        if key.strip() == name:
            return value.strip()
    return None


def refuse_early(raw_event: Mapping[str, Any], config: Settings) -> dict[str, Any] | None:
    """A finished HttpApi response for requests refused before routing; None to go on."""
    event = APIGatewayProxyEventV2(dict(raw_event))
    body = event.body or ""
    # base64 is 4/3 the size: refuse huge bodies before decoding them
    if len(body) > (MAX_BODY_BYTES * 4 // 3 + 4 if event.is_base64_encoded else MAX_BODY_BYTES):
        return _raw_response(
            config, 413, "That request is too large", "The form sends far less than this. Go back and try again."
        )
    method = event.request_context.http.method.upper()
    try:
        data = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")
        text = data.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        if (method, event.raw_path) == ("POST", "/unsubscribe") and _media_type(event) != FORM_TYPE:
            return None  # RFC 8058 one-click: the token in the URL decides, this body is never read
        return _raw_response(
            config,
            400,
            "That request could not be read",
            "Its body is not UTF-8 text. Send the form from the sign-up page.",
        )
    if len(data) > MAX_BODY_BYTES:
        return _raw_response(
            config, 413, "That request is too large", "The form sends far less than this. Go back and try again."
        )
    if (method, event.raw_path) in CSRF_PROTECTED:
        content_type = (event.headers.get("content-type") or "").lower()
        fields = parse_qs(text) if content_type.startswith("application/x-www-form-urlencoded") else {}
        try:
            _check_origin(event, config)
            csrf.check(
                config.require("signing_key"),
                next(iter(fields.get("csrf_token", [])), None),
                _cookie(event, CSRF_COOKIE),
            )
        except csrf.CsrfRefused as exc:
            log.info("form refused", extra={"path": event.raw_path, "reason": str(exc)})
            return _raw_response(
                config,
                403,
                "This form cannot be sent",
                f"It was refused because {exc}. Open the page again and resend the form.",
            )
    return None


def _check_origin(event: APIGatewayProxyEventV2, config: Settings) -> None:
    origin = event.headers.get("origin")
    if origin and origin != "null":
        expected = urlsplit(config.require("public_base_url"))
        if origin.rstrip("/") != f"{expected.scheme}://{expected.netloc}":
            raise csrf.CsrfRefused("the form was sent from another site")


# -- errors ------------------------------------------------------------------------------------


@router.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(exc: RequestValidationError) -> Response[str]:
    event = router.current_event
    if event.http_method == "POST" and event.path == "/signup":
        fields = parse_qs(event.decoded_body or "")
        values = {name: v[0] for name, v in fields.items() if v}
        token, set_nonce = _csrf_form(_cookie(APIGatewayProxyEventV2(event.raw_event), CSRF_COOKIE))
        errors = field_errors(list(exc.errors()))
        if not errors:  # a field the page does not show (the anti-forgery token): the page is stale
            return message_page(400, "This form cannot be sent", "Open the sign-up page again and resend the form.")
        body = pages.signup_form(
            csrf_token=token, values=values, errors=errors, default_day=_settings().default_digest_day
        )
        return page(body, 422, set_nonce=set_nonce)
    if event.http_method == "POST" and event.path == "/settings":  # only a changed page sends other values
        return message_page(
            400,
            "These settings cannot be saved",
            "A value is not one the page offers. Open the settings link from your digest again.",
        )
    if event.path == "/oauth/callback":
        return message_page(
            400, "This sign-in cannot be used", "The answer from X is incomplete. Start again from the sign-up page."
        )
    return message_page(
        400,
        "This link is not valid",
        "The link is incomplete or was changed. Use the link from our email exactly as it is.",
    )


@router.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
def _unsupported(exc: RequestUnsupportedContentType) -> Response[str]:
    return message_page(415, "That request could not be read", "Send the form from this site's pages.")


@router.exception_handler(SignupError)  # type: ignore[untyped-decorator]
def _refused(exc: SignupError) -> Response[str]:
    return message_page(exc.status, exc.title, exc.message)


@router.exception_handler(NotFoundError)  # type: ignore[untyped-decorator]
def _not_found(exc: NotFoundError) -> Response[str]:
    return message_page(404, "There is nothing here", "The page you asked for does not exist.")


@router.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _broken(exc: Exception) -> Response[str]:
    # the message of an unexpected exception may quote input (tokens, addresses): log the type and the stack only
    log.error(
        "unhandled error",
        extra={
            "error": type(exc).__name__,
            "path": router.current_event.path,
            "stack": "".join(traceback.format_tb(exc.__traceback__)),
        },
    )
    return message_page(500, "Something went wrong on our side", "Nothing was lost. Please try again in a few minutes.")


# -- pages -------------------------------------------------------------------------------------


@router.get("/", summary="The sign-up page", responses=_html_responses(200))
def signup_page(ft_csrf: CsrfCookie = None) -> Response[str]:
    token, set_nonce = _csrf_form(ft_csrf)
    return page(pages.signup_form(csrf_token=token, default_day=_settings().default_digest_day), set_nonce=set_nonce)


@router.head("/", summary="The sign-up page's headers (uptime checks, link previews)", responses=_html_responses(200))
def signup_page_head() -> Response[str]:
    return page("")


@router.post(
    "/signup",
    summary="Start a sign-up: on to X's authorization page",
    responses=_html_responses(303, 400, 403, 413, 415, 422),
)
def signup(
    email: EmailField,
    consent: ConsentField,
    digest_day: DayField,
    digest_hour: HourField,
    time_zone: ZoneField,
    csrf_token: CsrfField,
    ft_csrf: CsrfCookie = None,
) -> Response[str]:
    try:
        nonce = csrf.check(_settings().require("signing_key"), csrf_token, ft_csrf)
    except csrf.CsrfRefused as exc:  # refuse_early checked already; this keeps the route safe on its own
        return message_page(403, "This form cannot be sent", f"It was refused because {exc}.")
    form = SignupForm(
        email=str(email),
        digest_day=digest_day,
        digest_hour=digest_hour,
        time_zone=time_zone,
        consent_version=CONSENT_VERSION,
        consent_at=_service().now(),
    )
    authorize_url = _service().start(form, browser_nonce=nonce)
    return Response(status_code=303, headers={"Location": authorize_url, **_security_headers(_settings())}, body="")


@router.get(
    "/oauth/callback",
    summary="X sends the browser back here with a code",
    responses=_html_responses(200, 400, 404, 409, 503),
)
def oauth_callback(
    state: OAuthState, code: OAuthCode = None, error: OAuthError = None, ft_csrf: CsrfCookie = None
) -> Response[str]:
    client = APIGatewayProxyEventV2(router.current_event.raw_event).request_context.http.source_ip or None
    done = _service().complete(state=state, code=code, error=error, browser_nonce=ft_csrf, client=client)
    return page(_completed_page(done))


def _completed_page(done: Completed) -> str:
    """One page for every sign-in that needs an email, whatever the address's story (new, subscribed elsewhere,
    bounced, in its cooldown, over a limit): the page must not tell who is subscribed. The email says the rest."""
    sub = done.subscriber
    if done.outcome == "ready":  # the X account's own subscription, same address: nothing to confirm
        return pages.message(
            "You are all set",
            [f"@{sub.username} is connected. Your digest arrives on {describe_schedule(sub)}.", "Nothing else to do."],
        )
    minutes = max(1, -(-_settings().confirmation_cooldown_s // 60))
    return pages.message(
        "Check your email",
        [
            f"We are sending an email to {done.email}. Open it: it says what happens next, and nothing changes until "
            "you press the button on the page its link opens.",
            "Nothing within a few minutes? Check your spam folder. To stop abuse we send at most one email every "
            f"few minutes to an address: wait {minutes} minutes before signing up again.",
        ],
    )


@router.get(
    "/confirm",
    summary="Asks before confirming the email address (double opt-in)",
    responses=_html_responses(200, 400, 404, 410),
)
def confirm_page(token: LinkToken, ft_csrf: CsrfCookie = None) -> Response[str]:
    # a GET changes nothing: mail scanners and link previews fetch links nobody clicked
    will = _service().confirmation(token)
    csrf_token, set_nonce = _csrf_form(ft_csrf)
    fields = {"token": token, "csrf_token": csrf_token}
    if will.replaces:
        return page(
            pages.message(
                "Replace @" + will.replaces + " with @" + will.username + "?",
                [
                    f"Your weekly digest to {pages.mask_email(will.email)} will be about @{will.username} instead of "
                    f"@{will.replaces}.",
                    f"This replaces @{will.replaces} and starts your history again: the digests, reports and "
                    f"conversation history about @{will.replaces} are deleted, and our access to "
                    f"@{will.replaces} is revoked at X. It cannot be undone.",
                    f"Not you? Close this page: nothing changes, and the digest about @{will.replaces} keeps coming.",
                ],
                action=pages.Action("/confirm", f"Replace @{will.replaces}", fields, danger=True),
            ),
            set_nonce=set_nonce,
        )
    return page(
        pages.message(
            "Confirm your address?",
            [
                f"Send the weekly digest about @{will.username} to {pages.mask_email(will.email)}?",
                "Not you? Close this page: nothing is sent without this confirmation.",
            ],
            action=pages.Action("/confirm", "Confirm my address", fields),
        ),
        set_nonce=set_nonce,
    )


@router.post(
    "/confirm",
    summary="Confirm the email address (double opt-in)",
    responses=_html_responses(200, 400, 403, 404, 409, 410, 413, 415),
)
def confirm(token: FormLinkToken, csrf_token: CsrfField, ft_csrf: CsrfCookie = None) -> Response[str]:
    try:
        csrf.check(_settings().require("signing_key"), csrf_token, ft_csrf)
    except csrf.CsrfRefused as exc:  # refuse_early checked already; this keeps the route safe on its own
        return message_page(403, "This form cannot be sent", f"It was refused because {exc}.")
    sub = _service().confirm(token)
    if sub.receives_digest:
        return page(
            pages.message(
                "Your address is confirmed",
                [
                    f"Thank you. Your first digest about @{sub.username} arrives on {describe_schedule(sub)}.",
                    "Every digest has a link to unsubscribe, and one to delete everything we store.",
                ],
            )
        )
    if sub.status == "unsubscribed":
        return page(
            pages.message(
                "Your address is confirmed",
                ["You unsubscribed since, so no digest will come. Sign up again to resume."],
                back=True,
            )
        )
    return page(
        pages.message(
            "Your address is confirmed",
            ["Digests will start once your X account is connected again. Sign up again to reconnect it."],
            back=True,
        )
    )


@router.get("/unsubscribe", summary="Asks before unsubscribing", responses=_html_responses(200, 400))
def unsubscribe_page(token: LinkToken) -> Response[str]:
    sub = _service().subscriber_for("unsubscribe", token)
    if sub is None or sub.status == "unsubscribed":
        return page(pages.message("You are unsubscribed", ["No more digests will be sent to this address."]))
    return page(
        pages.message(
            "Unsubscribe?",
            [f"Stop the weekly digest to {pages.mask_email(sub.email)}?", "You can sign up again at any time."],
            action=pages.Action("/unsubscribe", "Unsubscribe", {"token": token}),
        )
    )


@router.post(
    "/unsubscribe",
    summary="Unsubscribe (also RFC 8058 one-click: the token authorizes it)",
    description="The signed token comes in the query (RFC 8058 one-click, whatever the body and its type) "
    "or as the field `token` of the page's urlencoded form.",
    responses=_html_responses(200, 400, 413),
)
def unsubscribe(token: OptionalLinkToken = None) -> Response[str]:
    # RFC 8058: a mailbox provider's POST carries List-Unsubscribe=One-Click in whatever body type it likes (or
    # none): the signed token in the URL is the authorization, so the body is read only for the page's form
    given = (token or _form_field(router.current_event, "token") or "").strip()
    if not given:
        return message_page(400, "This link is not valid", "The unsubscribe link is missing its token.")
    _service().unsubscribe(given)
    return page(
        pages.message(
            "You are unsubscribed",
            ["No more digests will be sent to this address.", "Changed your mind? Sign up again at any time."],
            back=True,
        )
    )


@router.get("/delete", summary="Asks before deleting everything", responses=_html_responses(200, 400))
def delete_page(token: LinkToken, ft_csrf: CsrfCookie = None) -> Response[str]:
    sub = _service().subscriber_for("delete", token)
    if sub is None:
        return page(pages.message("Nothing is stored", ["There is nothing left to delete for this link."]))
    csrf_token, set_nonce = _csrf_form(ft_csrf)
    return page(
        pages.message(
            "Delete everything?",
            [
                f"This deletes the subscription of {pages.mask_email(sub.email)} and everything stored with it: the "
                "connection to your X account, past digests and reports, and the history of your conversations.",
                "It cannot be undone.",
            ],
            action=pages.Action(
                "/delete", "Delete everything", {"token": token, "csrf_token": csrf_token}, danger=True
            ),
        ),
        set_nonce=set_nonce,
    )


@router.post(
    "/delete", summary="Delete everything stored for the subscriber", responses=_html_responses(200, 400, 403, 413, 415)
)
def delete(token: FormLinkToken, csrf_token: CsrfField, ft_csrf: CsrfCookie = None) -> Response[str]:
    try:
        csrf.check(_settings().require("signing_key"), csrf_token, ft_csrf)
    except csrf.CsrfRefused as exc:
        return message_page(403, "This form cannot be sent", f"It was refused because {exc}.")
    deleted = _service().delete(token)
    return page(
        pages.message(
            "Everything is deleted" if deleted else "Nothing is stored",
            [
                "Your subscription, the connection to your X account and all stored history are gone."
                if deleted
                else "There was nothing left to delete for this link."
            ],
            back=True,
        )
    )


@router.get(
    "/settings",
    summary="The preference centre: when the digest comes, and a pause",
    responses=_html_responses(200, 400),
)
def settings_page(token: LinkToken, ft_csrf: CsrfCookie = None) -> Response[str]:
    sub = _service().subscriber_for("settings", token)
    if sub is None or not sub.email_confirmed:
        return message_page(
            404, "There is no subscription for this link", "It was deleted. You can sign up again on the first page."
        )
    return _settings_page(sub, token, ft_csrf)


def _settings_page(sub: Subscriber, token: str, cookie: str | None, saved: bool = False) -> Response[str]:
    from followthrough.signup.service import pause_weeks_left

    csrf_token, set_nonce = _csrf_form(cookie)
    now = _service().now()
    values = {
        "digest_day": str(sub.digest_day),
        "digest_hour": str(sub.digest_hour),
        "time_zone": sub.time_zone,
        "pause_weeks": str(pause_weeks_left(sub, now)),
    }
    paused = (
        sub.paused_until.astimezone(ZoneInfo(sub.time_zone)).strftime("%A %d %B %Y")
        if sub.paused_until is not None and sub.paused_at(now)
        else None
    )
    body = pages.settings_form(
        token=token,
        csrf_token=csrf_token,
        username=sub.username or "",
        hidden_sections=sub.hidden_sections,
        skipped_reads=sub.skipped_reads,
        opted_in_reads=sub.opted_in_reads,
        masked_email=pages.mask_email(sub.email),
        values=values,
        paused_until=paused,
        saved=saved,
        export_url=path_of_link("export", sub.subscriber_id),
    )
    return page(body, set_nonce=set_nonce)


@router.post(
    "/settings",
    summary="Save the digest's settings (a settings link cannot unsubscribe or delete)",
    responses=_html_responses(200, 400, 403, 404, 413, 415),
)
def save_settings(
    token: FormLinkToken,
    csrf_token: CsrfField,
    digest_day: DayField,
    digest_hour: HourField,
    time_zone: ZoneField,
    pause_weeks: PauseField,
    sections: ShownSectionsField = None,
    reads: OptionalReadsField = None,
    ft_csrf: CsrfCookie = None,
) -> Response[str]:
    try:
        csrf.check(_settings().require("signing_key"), csrf_token, ft_csrf)
    except csrf.CsrfRefused as exc:  # refuse_early checked already; this keeps the route safe on its own
        return message_page(403, "This form cannot be sent", f"It was refused because {exc}.")
    shown, made = set(sections or []), set(reads or [])
    sub = _service().change_settings(
        token,
        digest_day=digest_day,
        digest_hour=digest_hour,
        time_zone=time_zone,
        pause_weeks=pause_weeks,
        hidden_sections=[s for s in get_args(DigestSection) if s not in shown],
        skipped_reads=[r for r in get_args(OptionalRead) if r not in made],
        opted_in_reads=[r for r in get_args(OptInRead) if r in made],
    )
    if sub is None:
        return message_page(
            404, "There is no subscription for this link", "It was deleted. You can sign up again on the first page."
        )
    return _settings_page(sub, token, ft_csrf, saved=True)


@router.get("/view", summary="A week's digest in the browser, as it was sent", responses=_html_responses(200, 400, 404))
def view(token: LinkToken) -> Response[str]:
    html = _service().view(token)
    if html is None:
        return message_page(
            404,
            "This digest is no longer stored",
            "It was deleted, or never sent. The digest in your inbox is the same.",
        )
    return page(html)


@router.get(
    "/export",
    summary="Asks before downloading everything stored (download my data)",
    responses=_html_responses(200, 400),
)
def export_page(token: LinkToken, ft_csrf: CsrfCookie = None) -> Response[str]:
    sub = _service().subscriber_for("export", token)
    if sub is None:
        return page(pages.message("Nothing is stored", ["There is nothing stored for this link."]))
    csrf_token, set_nonce = _csrf_form(ft_csrf)
    return page(
        pages.message(
            "Download your data",
            [
                f"Everything Followthrough stores about {pages.mask_email(sub.email)}, as one JSON file: your "
                "profile and consent, each week's report and status, what reading X cost, the people you talk "
                "with and the follow lists we keep. Never the keys to your X account.",
                "Keep the file safe: it is about you and the people you talk with.",
            ],
            action=pages.Action("/export", "Download my data", {"token": token, "csrf_token": csrf_token}),
        ),
        set_nonce=set_nonce,
    )


@router.post(
    "/export",
    summary="Everything stored about the subscriber, as a JSON download (never tokens)",
    responses={
        **_html_responses(400, 403, 404, 413, 415),
        200: {"description": "the export", "content": {"application/json": {"schema": {"type": "object"}}}},
    },
)
def export(token: FormLinkToken, csrf_token: CsrfField, ft_csrf: CsrfCookie = None) -> Response[str]:
    try:
        csrf.check(_settings().require("signing_key"), csrf_token, ft_csrf)
    except csrf.CsrfRefused as exc:  # refuse_early checked already; this keeps the route safe on its own
        return message_page(403, "This form cannot be sent", f"It was refused because {exc}.")
    data = _service().export(token)
    if data is None:
        return message_page(404, "Nothing is stored", "There is nothing stored for this link.")
    return Response(
        status_code=200,
        content_type="application/json",
        body=json.dumps(data, indent=2),
        headers={
            **_security_headers(_settings()),
            "Content-Disposition": 'attachment; filename="followthrough-my-data.json"',
        },
    )


def path_of_link(purpose: Purpose, subscriber_id: str) -> str:
    """``/<purpose>?token=…``: a signed link to another of the subscriber's pages, from one of them."""
    return link("", purpose, _settings().require("signing_key"), subscriber_id)


def _media_type(event: Any) -> str:
    """The body's media type without parameters, in lower case (media types are case-insensitive)."""
    return str(event.headers.get("content-type") or "").split(";", 1)[0].strip().lower()


def _form_field(event: Any, name: str) -> str | None:
    """A field of an urlencoded body; None for any other body."""
    if _media_type(event) != FORM_TYPE:
        return None
    values = parse_qs(event.decoded_body or "").get(name)
    return values[0] if values and len(values[0]) <= TOKEN_MAX else None


def openapi_document(app: Any) -> str:
    """The API's OpenAPI document, for ``GET /openapi.json``."""
    document = json.loads(
        app.get_openapi_json_schema(
            title="Followthrough sign-up",
            version="1.0.0",
            description="The sign-up form and the subscriber lifecycle: X OAuth 2.0 with PKCE, double opt-in, "
            "unsubscribe (RFC 8058 one-click) and deletion.",
        )
    )
    zones = [zone for group in time_zones().values() for zone in group]
    for schema in document.get("components", {}).get("schemas", {}).values():
        if "time_zone" in schema.get("properties", {}):
            schema["properties"]["time_zone"]["enum"] = zones
    return json.dumps(document)
