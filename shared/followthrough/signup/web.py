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
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

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
from followthrough.signup import csrf, pages
from followthrough.signup.errors import SignupError
from followthrough.signup.forms import (
    CONSENT_VERSION,
    CSRF_COOKIE,
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
    OneClick,
    OptionalFormToken,
    OptionalLinkToken,
    SignupForm,
    ZoneField,
    describe_schedule,
    field_errors,
    time_zones,
)

if TYPE_CHECKING:
    from followthrough.signup.service import Completed, SignupService

log = logging.getLogger(__name__)
# At DEBUG, Powertools' resolver logs the validated route arguments (link tokens, OAuth codes and states) and
# botocore the request parameters (the PKCE verifier, the confirmation email): keep both quiet whatever the
# function's log level is.
for _name in ("aws_lambda_powertools.event_handler", "botocore", "boto3"):
    logging.getLogger(_name).setLevel(logging.INFO)

MAX_BODY_BYTES = 16 * 1024  # the sign-up form is well under 1 KB
HTML = "text/html; charset=utf-8"
# forms that carry the anti-forgery token (POST /unsubscribe is RFC 8058 one-click: its signed token suffices)
CSRF_PROTECTED = {("POST", "/signup"), ("POST", "/delete")}

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated


def _settings() -> Settings:
    return cast(Settings, router.context["settings"])


def _service() -> SignupService:
    return cast("SignupService", router.context["signup"])


def _html_responses(*statuses: int) -> dict[int, OpenAPIResponse]:
    described = {200: "the page", 303: "on to X's authorization page", 400: "a refused request, explained",
                 403: "the form did not come from this site", 404: "nothing stored for this link",
                 409: "the X account or address belongs to another subscription",
                 410: "a confirmation link from an email about an earlier request", 413: "the body is too large",
                 415: "an unsupported body type", 422: "the form again, with a message at each refused field",
                 503: "X is not answering"}
    page: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
        "text/html": {"schema": {"type": "string"}}}
    return {status: {"description": described[status], **({"content": page} if status != 303 else {})}
            for status in statuses}


# -- responses ---------------------------------------------------------------------------------


def _security_headers(config: Settings) -> dict[str, str]:
    x_base = config.x_api_base_url.rstrip("/")
    if x_base in X_HOSTS:
        authorize = "https://twitter.com https://x.com"
    else:
        parts = urlsplit(x_base)
        authorize = f"{parts.scheme}://{parts.netloc}"
    return {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                   f"form-action 'self' {authorize}; frame-ancestors 'none'; base-uri 'none'",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",  # links carry tokens: never pass them on
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


def _csrf_cookie(nonce: str) -> Cookie:
    secure = _settings().require("public_base_url").startswith("https://")
    return Cookie(name=CSRF_COOKIE, value=nonce, path="/", secure=secure, http_only=True, same_site=SameSite.LAX_MODE,
                  max_age=csrf.MAX_AGE_S)


def page(body: str, status: int = 200, *, set_nonce: str | None = None) -> Response[str]:
    return Response(status_code=status, content_type=HTML, body=body, headers=_security_headers(_settings()),
                    cookies=[_csrf_cookie(set_nonce)] if set_nonce else None)


def message_page(status: int, title: str, *paragraphs: str, back: bool = True) -> Response[str]:
    return page(pages.message(title, paragraphs, back=back), status)


def _csrf_form(cookie: str | None) -> tuple[str, str | None]:
    """(signed token for a form, nonce to set as the cookie or None if the browser has it already)."""
    nonce, fresh = csrf.browser_nonce(cookie)
    return csrf.form_token(_settings().require("signing_key"), nonce), nonce if fresh else None


# -- before routing ----------------------------------------------------------------------------


def _raw_response(config: Settings, status: int, title: str, text: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": HTML, **_security_headers(config)}, "cookies": [],
            "body": pages.message(title, [text], back=True), "isBase64Encoded": False}


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
        return _raw_response(config, 413, "That request is too large",
                             "The form sends far less than this. Go back and try again.")
    try:
        data = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")
        text = data.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        return _raw_response(config, 400, "That request could not be read",
                             "Its body is not UTF-8 text. Send the form from the sign-up page.")
    if len(data) > MAX_BODY_BYTES:
        return _raw_response(config, 413, "That request is too large",
                             "The form sends far less than this. Go back and try again.")
    method = event.request_context.http.method.upper()
    if (method, event.raw_path) in CSRF_PROTECTED:
        content_type = (event.headers.get("content-type") or "").lower()
        fields = parse_qs(text) if content_type.startswith("application/x-www-form-urlencoded") else {}
        try:
            _check_origin(event, config)
            csrf.check(config.require("signing_key"), next(iter(fields.get("csrf_token", [])), None),
                       _cookie(event, CSRF_COOKIE))
        except csrf.CsrfRefused as exc:
            log.info("form refused", extra={"path": event.raw_path, "reason": str(exc)})
            return _raw_response(config, 403, "This form cannot be sent",
                                 f"It was refused because {exc}. Open the page again and resend the form.")
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
        body = pages.signup_form(csrf_token=token, values=values, errors=errors,
                                 default_day=_settings().default_digest_day)
        return page(body, 422, set_nonce=set_nonce)
    if event.path == "/oauth/callback":
        return message_page(400, "This sign-in cannot be used",
                            "The answer from X is incomplete. Start again from the sign-up page.")
    return message_page(400, "This link is not valid",
                        "The link is incomplete or was changed. Use the link from our email exactly as it is.")


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
    log.error("unhandled error", extra={"error": type(exc).__name__, "path": router.current_event.path,
                                        "stack": "".join(traceback.format_tb(exc.__traceback__))})
    return message_page(500, "Something went wrong on our side",
                        "Nothing was lost. Please try again in a few minutes.")


# -- pages -------------------------------------------------------------------------------------


@router.get("/", summary="The sign-up page", responses=_html_responses(200))
def signup_page(ft_csrf: CsrfCookie = None) -> Response[str]:
    token, set_nonce = _csrf_form(ft_csrf)
    return page(pages.signup_form(csrf_token=token, default_day=_settings().default_digest_day),
                set_nonce=set_nonce)


@router.post("/signup", summary="Start a sign-up: on to X's authorization page",
             responses=_html_responses(303, 400, 403, 413, 415, 422))
def signup(email: EmailField, consent: ConsentField, digest_day: DayField, digest_hour: HourField,
           time_zone: ZoneField, csrf_token: CsrfField, ft_csrf: CsrfCookie = None) -> Response[str]:
    try:
        nonce = csrf.check(_settings().require("signing_key"), csrf_token, ft_csrf)
    except csrf.CsrfRefused as exc:  # refuse_early checked already; this keeps the route safe on its own
        return message_page(403, "This form cannot be sent", f"It was refused because {exc}.")
    form = SignupForm(email=str(email), digest_day=digest_day, digest_hour=digest_hour, time_zone=time_zone,
                      consent_version=CONSENT_VERSION, consent_at=_service().now())
    authorize_url = _service().start(form, browser_nonce=nonce)
    return Response(status_code=303, headers={"Location": authorize_url, **_security_headers(_settings())}, body="")


@router.get("/oauth/callback", summary="X sends the browser back here with a code",
            responses=_html_responses(200, 400, 404, 409, 503))
def oauth_callback(state: OAuthState, code: OAuthCode = None, error: OAuthError = None,
                   ft_csrf: CsrfCookie = None) -> Response[str]:
    done = _service().complete(state=state, code=code, error=error, browser_nonce=ft_csrf)
    return page(_completed_page(done))


def _completed_page(done: Completed) -> str:
    sub = done.subscriber
    mailed = {
        "sent": f"We sent a link to {done.email}. Open it to confirm your address (it works for three days).",
        "cooldown": f"We sent a link to {done.email} a few minutes ago; it is still valid. Check your inbox and "
                    "spam folder. To stop abuse we send at most one every few minutes.",
        "cooldown_other": f"We sent a link to {done.email} a few minutes ago, about an earlier request; it does "
                          "not confirm this one. To stop abuse we send at most one every few minutes: sign up "
                          f"again in {max(1, -(-_settings().confirmation_cooldown_s // 60))} minutes and we "
                          "will send a link for this request.",
        "suppressed": f"Emails to {done.email} bounced or were reported before, so we cannot send to it. "
                      "Sign up again with another address.",
        "not_needed": "",
    }[done.mailed]
    if done.outcome == "ready":
        return pages.message("You are all set", [
            f"@{sub.username} is connected. Your digest arrives on {describe_schedule(sub)}.",
            "Nothing else to do."])
    if done.outcome == "confirm_change":
        return pages.message("Check your email", [
            "Your current subscription keeps going unchanged until you confirm the new details.", mailed])
    return pages.message("Check your email", [
        f"@{sub.username} is connected. One step left: confirm your email address.", mailed,
        f"After that, your digest arrives on {describe_schedule(sub)}."])


@router.get("/confirm", summary="Confirm the email address (double opt-in)",
            responses=_html_responses(200, 400, 404, 409, 410))
def confirm(token: LinkToken) -> Response[str]:
    sub = _service().confirm(token)
    if sub.receives_digest:
        return page(pages.message("Your address is confirmed", [
            f"Thank you. Your first digest about @{sub.username} arrives on {describe_schedule(sub)}.",
            "Every digest has a link to unsubscribe, and one to delete everything we store."]))
    if sub.status == "unsubscribed":
        return page(pages.message("Your address is confirmed", [
            "You unsubscribed since, so no digest will come. Sign up again to resume."], back=True))
    return page(pages.message("Your address is confirmed", [
        "Digests will start once your X account is connected again. Sign up again to reconnect it."], back=True))


@router.get("/unsubscribe", summary="Asks before unsubscribing", responses=_html_responses(200, 400))
def unsubscribe_page(token: LinkToken) -> Response[str]:
    sub = _service().subscriber_for("unsubscribe", token)
    if sub is None or sub.status == "unsubscribed":
        return page(pages.message("You are unsubscribed", ["No more digests will be sent to this address."]))
    return page(pages.message("Unsubscribe?", [
        f"Stop the weekly digest to {pages.mask_email(sub.email)}?",
        "You can sign up again at any time."],
        action=pages.Action("/unsubscribe", "Unsubscribe", {"token": token})))


@router.post("/unsubscribe", summary="Unsubscribe (also RFC 8058 one-click: the token authorizes it)",
             responses=_html_responses(200, 400, 413, 415))
def unsubscribe(token: OptionalLinkToken = None, form_token: OptionalFormToken = None,
                one_click: OneClick = None) -> Response[str]:
    given = (form_token or token or "").strip()
    if not given:
        return message_page(400, "This link is not valid", "The unsubscribe link is missing its token.")
    _service().unsubscribe(given)
    return page(pages.message("You are unsubscribed", [
        "No more digests will be sent to this address.",
        "Changed your mind? Sign up again at any time."], back=True))


@router.get("/delete", summary="Asks before deleting everything", responses=_html_responses(200, 400))
def delete_page(token: LinkToken, ft_csrf: CsrfCookie = None) -> Response[str]:
    sub = _service().subscriber_for("delete", token)
    if sub is None:
        return page(pages.message("Nothing is stored", ["There is nothing left to delete for this link."]))
    csrf_token, set_nonce = _csrf_form(ft_csrf)
    return page(pages.message("Delete everything?", [
        f"This deletes the subscription of {pages.mask_email(sub.email)} and everything stored with it: the "
        "connection to your X account, past digests and reports, and the history of your conversations.",
        "It cannot be undone."],
        action=pages.Action("/delete", "Delete everything", {"token": token, "csrf_token": csrf_token},
                            danger=True)), set_nonce=set_nonce)


@router.post("/delete", summary="Delete everything stored for the subscriber",
             responses=_html_responses(200, 400, 403, 413, 415))
def delete(token: FormLinkToken, csrf_token: CsrfField, ft_csrf: CsrfCookie = None) -> Response[str]:
    try:
        csrf.check(_settings().require("signing_key"), csrf_token, ft_csrf)
    except csrf.CsrfRefused as exc:
        return message_page(403, "This form cannot be sent", f"It was refused because {exc}.")
    deleted = _service().delete(token)
    return page(pages.message("Everything is deleted" if deleted else "Nothing is stored", [
        "Your subscription, the connection to your X account and all stored history are gone."
        if deleted else "There was nothing left to delete for this link."], back=True))


def openapi_document(app: Any) -> str:
    """The API's OpenAPI document, for ``GET /openapi.json``."""
    document = json.loads(app.get_openapi_json_schema(
        title="Followthrough sign-up", version="1.0.0",
        description="The sign-up form and the subscriber lifecycle: X OAuth 2.0 with PKCE, double opt-in, "
                    "unsubscribe (RFC 8058 one-click) and deletion."))
    zones = [zone for group in time_zones().values() for zone in group]
    for schema in document.get("components", {}).get("schemas", {}).values():
        if "time_zone" in schema.get("properties", {}):
            schema["properties"]["time_zone"]["enum"] = zones
    return json.dumps(document)
