"""Hostile requests to the sign-up API: each gets a 4xx with a clear message, never a 5xx, and changes nothing.

Also: no token, code, verifier, state or address in any log line of a whole sign-up.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from itsdangerous import TimestampSigner

from followthrough.links import confirmation_digest, make_token
from followthrough.signup.pages import TIME_ZONE_GUESS
from followthrough.signup.web import MAX_BODY_BYTES
from followthrough_devkit.serve import http_event
from tests.support.signup import (  # noqa: F401 (fixtures)
    Page,
    Visitor,
    World,
    confirm_link,
    function_fixture,
    path_of,
    world_fixture,
)

SCRIPT = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def _refused(page: Page, status: int, *words: str) -> None:
    assert page.status == status, (page.status, page.text)
    assert page.headers["content-type"].startswith("text/html")
    for word in words:
        assert word.lower() in page.text.lower(), (word, page.text)
    assert "<script>" not in page.body and "onerror=alert" not in page.body.replace("onerror=alert(2)&gt;", "")


def _active(world: World, address: str = "ada@example.com") -> str:
    visitor = world.visitor()
    assert world.sign_up(visitor, address, world.accounts[0]).status == 200
    assert visitor.confirm(confirm_link(world.outbox()[-1].raw_data)).status == 200
    sid = world.repositories.signups.owner("EMAIL", address)
    assert sid is not None
    return sid


def _callback(world: World, visitor: Visitor, address: str = "ada@example.com") -> str:
    started = visitor.start(address)
    assert started.status == 303
    return world.authorize(started.headers["location"], world.accounts[0])


# -- OAuth -------------------------------------------------------------------------------------


def test_a_wrong_or_missing_state_is_refused(world: World) -> None:
    visitor = world.visitor()
    target = _callback(world, visitor)
    code = parse_qs(urlsplit(target).query)["code"][0]
    before = world.table_items()
    wrong = visitor.get("/oauth/callback?" + urlencode({"state": "not-the-state", "code": code}))
    _refused(wrong, 400, "already used, has expired, or did not come from X")
    _refused(visitor.get("/oauth/callback?" + urlencode({"code": code})), 400, "incomplete")
    _refused(visitor.get("/oauth/callback?state=&code=x"), 400, "incomplete")
    assert world.table_items() == before and world.outbox() == []
    assert visitor.get(target).status == 200  # the real state still works once


def test_a_replayed_callback_is_refused_and_changes_nothing(world: World) -> None:
    visitor = world.visitor()
    target = _callback(world, visitor)
    assert visitor.get(target).status == 200
    after_first = world.table_items()
    _refused(visitor.get(target), 400, "already used")
    assert world.table_items() == after_first and len(world.outbox()) == 1


def test_a_callback_in_another_browser_is_refused(world: World) -> None:
    target = _callback(world, world.visitor())
    _refused(world.visitor().get(target), 400, "different browser")
    assert world.repositories.signups.owner("XUSER", world.accounts[0].user_id) is None and world.outbox() == []


def test_a_code_older_than_30_seconds_is_refused(world: World) -> None:
    visitor = world.visitor()
    target = _callback(world, visitor)
    world.sim.advance(31)
    _refused(visitor.get(target), 400, "30 seconds")
    assert world.repositories.signups.owner("XUSER", world.accounts[0].user_id) is None and world.outbox() == []


def test_a_state_older_than_ten_minutes_is_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    visitor = world.visitor()
    target = _callback(world, visitor)
    later = datetime.now(UTC) + timedelta(minutes=11)
    world.clock.set(lambda: later)
    _refused(visitor.get(target), 400, "ten minutes")


# -- signed links ------------------------------------------------------------------------------


def _token(key: str, purpose: str, sid: str) -> str:
    confirms = confirmation_digest("ada@example.com", "1") if purpose == "confirm" else None
    return make_token(key, purpose, sid, confirms=confirms)  # type: ignore[arg-type]


def _forgeries(world: World, sid: str, purpose: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    key = world.settings.signing_key
    good = _token(key, purpose, sid)
    other = {"confirm": "unsubscribe", "unsubscribe": "delete", "delete": "confirm"}[purpose]
    with monkeypatch.context() as patched:  # a token signed 500 days ago
        past = int((datetime.now(UTC) - timedelta(days=500)).timestamp())
        patched.setattr(TimestampSigner, "get_timestamp", lambda self: past)
        expired = _token(key, purpose, sid)
    payload = {"p": purpose, "s": "someone-else", **({"c": "0" * 32} if purpose == "confirm" else {})}
    return {
        "garbage": "hello",
        "tampered": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        "other key": _token("another-deployment-secret-key", purpose, sid),
        "other purpose": _token(key, other, sid),
        "other subscriber": good.replace(
            good.split(".")[0], base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
        ),
        "expired": expired,
        "script": SCRIPT,
    }


@pytest.mark.parametrize("purpose", ["confirm", "unsubscribe", "delete"])
def test_forged_and_expired_link_tokens_are_refused(
    world: World, purpose: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = _active(world)
    before = world.table_items()
    for kind, token in _forgeries(world, sid, purpose, monkeypatch).items():
        expected = "expired" if kind == "expired" else "not valid"
        visitor = world.visitor()
        _refused(visitor.get(f"/{purpose}?" + urlencode({"token": token})), 400, expected)
        if purpose == "unsubscribe":
            _refused(
                visitor.post("/unsubscribe?" + urlencode({"token": token}), form={"List-Unsubscribe": "One-Click"}),
                400,
                expected,
            )
            _refused(visitor.post("/unsubscribe", form={"token": token}), 400, expected)
        if purpose == "delete":
            csrf_token = visitor.form_token()
            _refused(visitor.post("/delete", form={"token": token, "csrf_token": csrf_token}), 400, expected)
    for target in (f"/{purpose}", f"/{purpose}?token=", f"/{purpose}?token=" + "a" * 600):
        _refused(world.visitor().get(target), 400, "not valid")
    assert world.table_items() == before


# -- forms -------------------------------------------------------------------------------------


def _good_form(visitor: Visitor, **overrides: str) -> dict[str, str]:
    return {
        "email": "ada@example.com",
        "consent": "yes",
        "digest_day": "1",
        "digest_hour": "8",
        "time_zone": "UTC",
        "csrf_token": visitor.form_token(),
        **overrides,
    }


def test_posts_without_a_valid_anti_forgery_token_are_refused(world: World) -> None:
    sid = _active(world)
    delete_token = make_token(world.settings.signing_key, "delete", sid)
    before = world.table_items()
    visitor = world.visitor()
    form = _good_form(visitor)
    cases = {
        "no token": ({k: v for k, v in form.items() if k != "csrf_token"}, True, {}),
        "no cookie": (form, False, {}),
        "forged token": ({**form, "csrf_token": "forged"}, True, {}),
        "another browser's token": ({**form, "csrf_token": world.visitor().form_token()}, True, {}),
        "another site": (form, True, {"origin": "https://evil.example"}),
    }
    for name, (fields, cookies, headers) in cases.items():
        page = visitor.post("/signup", form=fields, send_cookies=cookies, headers=headers)
        _refused(page, 403, "cannot be sent")
        deleted = visitor.post(
            "/delete",
            form={"token": delete_token, "csrf_token": fields.get("csrf_token", "")},
            send_cookies=cookies,
            headers=headers,
        )
        _refused(deleted, 403, "cannot be sent")
        assert world.table_items() == before, name
    # even with every other field wrong, a forged post hears about the forgery, not the fields
    _refused(visitor.post("/signup", form={"email": "x"}), 403, "cannot be sent")
    assert visitor.post("/signup", form=form).status == 303  # the same form with its token passes


@pytest.mark.parametrize("path", ["/signup", "/delete", "/unsubscribe", "/"])
def test_oversized_and_non_utf8_bodies_are_refused(world: World, path: str) -> None:
    visitor = world.visitor()
    token = visitor.form_token()
    before = world.table_items()
    big = b"email=" + b"a" * (MAX_BODY_BYTES + 1)
    for encoded in (True, False):
        event = http_event(
            "POST",
            path,
            {"content-type": "application/x-www-form-urlencoded", "cookie": f"ft_csrf={visitor.cookies['ft_csrf']}"},
            big,
        )
        if not encoded:
            event.update(isBase64Encoded=False, body=big.decode())
        _refused(visitor.invoke(event), 413, "too large")
    for body in (b"email=\xff\xfe&csrf_token=" + token.encode(), b"\xc3\x28"):
        event = http_event("POST", path, {"content-type": "application/x-www-form-urlencoded"}, body)
        assert event["isBase64Encoded"]
        _refused(visitor.invoke(event), 400, "not UTF-8")
    event = http_event("POST", path, {"content-type": "application/x-www-form-urlencoded"}, b"a=b")
    event["body"] = "not base64!!"
    _refused(visitor.invoke(event), 400, "not UTF-8")
    assert world.table_items() == before


@pytest.mark.parametrize("field", ["email", "consent", "digest_day", "digest_hour", "time_zone"])
def test_markup_in_any_form_field_is_refused_and_shown_escaped(world: World, field: str) -> None:
    visitor = world.visitor()
    before = world.table_items()
    page = visitor.post("/signup", form=_good_form(visitor, **{field: SCRIPT}))
    _refused(page, 422, "There is a problem")
    assert f'id="{field}-error"' in page.body
    if field == "email":
        assert "&#34;&gt;&lt;script&gt;" in page.body  # kept in the field, escaped
    assert world.table_items() == before


def test_markup_in_the_anti_forgery_field_and_in_query_strings_is_refused(world: World) -> None:
    visitor = world.visitor()
    before = world.table_items()
    _refused(visitor.post("/signup", form=_good_form(visitor, csrf_token=SCRIPT)), 403, "cannot be sent")
    for target in (
        "/oauth/callback?" + urlencode({"state": SCRIPT, "code": SCRIPT}),
        "/oauth/callback?" + urlencode({"state": SCRIPT, "error": SCRIPT}),
        "/confirm?" + urlencode({"token": SCRIPT}),
        "/delete?" + urlencode({"token": SCRIPT}),
    ):
        _refused(visitor.get(target), 400)
    _refused(visitor.post("/delete", form={"token": SCRIPT, "csrf_token": visitor.form_token()}), 400)
    page = world.visitor().get("/", headers={"cookie": "ft_csrf=" + SCRIPT.replace(";", "")})
    # the page's one script is its own time-zone guess (allowed by hash in the CSP); the cookie is not reflected
    assert page.status == 200 and page.body.count("<script") == 1
    assert f"<script>{TIME_ZONE_GUESS}</script>" in page.body and "alert" not in page.body
    assert world.table_items() == before


def test_unknown_routes_and_unsupported_bodies_get_4xx_pages(world: World) -> None:
    visitor = world.visitor()
    _refused(visitor.get("/admin"), 404, "does not exist")
    # any body type is fine for one-click (RFC 8058): only the token decides
    _refused(
        visitor.post("/unsubscribe?token=x", body=b"x", headers={"content-type": "application/xml"}), 400, "not valid"
    )
    _refused(visitor.post("/unsubscribe", body=b"[1]", headers={"content-type": "application/json"}), 400)
    _refused(visitor.post("/unsubscribe", body=b"{", headers={"content-type": "application/json"}), 400)
    _refused(visitor.post("/unsubscribe", form={}), 400, "missing its token")


# -- logs --------------------------------------------------------------------------------------


def test_no_secret_or_address_reaches_the_logs(
    world: World, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)  # as with the function's log level at DEBUG
    powertools = world.function.logger
    powertools.setLevel("DEBUG")
    json_logs = io.StringIO()
    handler = powertools.registered_handler
    previous = handler.setStream(json_logs)  # type: ignore[attr-defined]
    try:
        visitor = world.visitor()
        form_page = visitor.get("/")
        started = visitor.post("/signup", form=_good_form(visitor, email="Secret.Person@example.com"))
        query = {k: v[0] for k, v in parse_qs(urlsplit(started.headers["location"]).query).items()}
        [state_item] = [i for i in world.table_items() if i["pk"].startswith("OAUTH#")]
        verifier = json.loads(state_item["payload"])["code_verifier"]
        target = world.authorize(started.headers["location"], world.accounts[0])
        code = parse_qs(urlsplit(target).query)["code"][0]
        assert visitor.get(target).status == 200
        sid = world.repositories.signups.owner("EMAIL", "Secret.Person@example.com")
        assert sid is not None
        stored = world.repositories.tokens.get_tokens(sid)
        assert stored is not None
        tokens = json.loads(world.services.token_keeper.cipher.decrypt(stored.ciphertext, sid))
        confirm = confirm_link(world.outbox()[-1].raw_data)
        assert visitor.confirm(confirm).status == 200
        unsubscribe = make_token(world.settings.signing_key, "unsubscribe", sid)
        assert visitor.post("/unsubscribe?token=" + unsubscribe, form={"List-Unsubscribe": "One-Click"}).status == 200
        _refused(visitor.get("/oauth/callback?" + urlencode({"state": query["state"], "code": code})), 400)
        _refused(visitor.post("/signup", form={"csrf_token": "x" * 40}), 403)
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    # every attribute of every record (message, arguments and extras), the JSON lines and stdout
    records = "\n".join(json.dumps({**r.__dict__, "message": r.getMessage()}, default=str) for r in caplog.records)
    logged = records + json_logs.getvalue() + capsys.readouterr().out
    assert "sign-up started" in logged and "sign-in completed" in logged and "example.com" in logged
    secrets = {
        "state": query["state"],
        "code": code,
        "verifier": verifier,
        "challenge": query["code_challenge"],
        "access token": tokens["access"],
        "refresh token": tokens["refresh"],
        "confirm token": parse_qs(urlsplit(confirm).query)["token"][0],
        "unsubscribe token": unsubscribe,
        "csrf token": form_page.field("csrf_token"),
        "csrf cookie": visitor.cookies["ft_csrf"],
    }
    for name, secret in secrets.items():
        assert secret not in logged, f"the {name} was logged"
    assert not re.search(r"secret\.person@", logged, re.IGNORECASE), "the address was logged"
