"""Issue #16's security and robustness gaps, one test (or a few) each, through the real handler: a
confirmation GET changes nothing; an account switch is said plainly and revokes the replaced grant; no page
tells who is subscribed; sign-up emails are limited; one-click unsubscribes whatever the body; only
deliverable addresses; a failed send can be retried; tokens bound to their subscriber; quiet SDK loggers;
idempotency records deleted; HSTS; HEAD /."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from followthrough.adapters.tokens import KmsCipher, LocalCipher, TokenDecryptError
from followthrough.bootstrap import wall_clock
from followthrough.links import link, make_token
from followthrough.logs import SDK_LOGGERS
from followthrough.messages import DigestRequest
from followthrough.signup import service
from followthrough.signup.service import mailbox
from followthrough_devkit.lambda_runtime import load_function
from tests.support.clock import MovableClock
from tests.support.signup import (  # noqa: F401 (fixtures)
    PUBLIC,
    World,
    confirm_link,
    function_fixture,
    mail_text,
    path_of,
    world_fixture,
)
from tests.support.template import translated


def _subscriber(world: World, address: str) -> Any:
    sid = world.repositories.signups.owner("EMAIL", address)
    return world.repositories.subscribers.get_subscriber(sid) if sid else None


def _signed_up(world: World, address: str, n: int = 0) -> str:
    """A confirmed subscriber (confirmed through the service: the tests of the confirm page are above)."""
    assert world.sign_up(world.visitor(), address, world.accounts[n]).status == 200
    world.services.signup.confirm(parse_qs(urlsplit(confirm_link(world.outbox()[-1].raw_data)).query)["token"][0])
    sub = _subscriber(world, address)
    assert sub is not None and sub.receives_digest
    return str(sub.subscriber_id)


@pytest.fixture
def later(clock: MovableClock) -> Iterator[None]:
    """Eleven minutes on: every confirmation cooldown is over."""
    clock.set(lambda: wall_clock() + timedelta(minutes=11))
    yield
    clock.set(wall_clock)


def _access_token(world: World, subscriber_id: str) -> str:
    stored = world.repositories.tokens.get_tokens(subscriber_id)
    assert stored is not None
    return str(json.loads(world.services.token_keeper.cipher.decrypt(stored.ciphertext, subscriber_id))["access"])


# -- 1. confirm is a page with a button; an account switch is said plainly ----------------------


def test_opening_a_confirmation_link_changes_nothing_until_its_button_is_pressed(world: World) -> None:
    assert world.sign_up(world.visitor(), "ada@example.com", world.accounts[0]).status == 200
    confirm = path_of(confirm_link(world.outbox()[-1].raw_data))
    before = world.table_items()
    for _ in range(2):  # a mail scanner, then a link preview
        asked = world.visitor().get(confirm)
        assert asked.status == 200 and "Confirm your address?" in asked.text
        assert 'method="post" action="/confirm"' in asked.body and asked.field("token")
    assert [i for i in world.table_items() if i["sk"] == "PROFILE"] == [i for i in before if i["sk"] == "PROFILE"]
    assert not _subscriber(world, "ada@example.com").email_confirmed
    done = world.visitor().confirm(confirm)
    assert done.status == 200 and "Your address is confirmed" in done.text
    assert _subscriber(world, "ada@example.com").receives_digest


def test_the_confirm_button_needs_the_pages_anti_forgery_token(world: World) -> None:
    assert world.sign_up(world.visitor(), "ada@example.com", world.accounts[0]).status == 200
    token = confirm_link(world.outbox()[-1].raw_data).split("token=", 1)[1]
    forged = world.visitor().post("/confirm", form={"token": token})
    assert forged.status == 403 and not _subscriber(world, "ada@example.com").email_confirmed


def test_an_account_switch_is_said_in_its_own_email_and_page_and_revokes_the_replaced_grant(
    world: World, later: None
) -> None:
    first, second = world.accounts[0], world.accounts[1]
    sid = _signed_up(world, "ada@example.com", n=0)
    old_access = _access_token(world, sid)
    collected = world.repositories.collector_state
    collected.save(collected.load(sid, "2026-W48"))  # history of @first
    world.clock.set(lambda: wall_clock() + timedelta(minutes=22))
    page = world.sign_up(world.visitor(), "ada@example.com", second)
    assert page.status == 200 and "Check your email" in page.text
    mail = world.outbox()[-1]
    text = mail_text(mail.raw_data)
    assert f"from @{first.username} to @{second.username}" in text
    assert f"This replaces @{first.username} and starts your history again" in text
    assert f"moves from @{first.username} to @{second.username}" in mail.raw_data.replace("\r\n ", " ")

    asked = world.visitor().get(path_of(confirm_link(mail.raw_data)))
    assert asked.status == 200 and f"Replace @{first.username} with @{second.username}?" in asked.text
    assert f"This replaces @{first.username} and starts your history again" in asked.text
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.x_user_id == first.user_id  # the page changed nothing
    assert [i for i in world.table_items() if i["sk"] == "CURSORS"] and world.sim.authenticate(old_access) is not None

    done = world.visitor().confirm(confirm_link(mail.raw_data))
    assert done.status == 200
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.x_user_id == second.user_id
    assert not [i for i in world.table_items() if i["sk"] == "CURSORS"]
    assert world.sim.authenticate(old_access) is None  # the replaced grant is revoked at X
    assert world.sim.authenticate(_access_token(world, sid)).user_id == second.user_id  # type: ignore[union-attr]


def test_an_unsubscribed_subscribers_history_stays_until_an_account_switch_is_confirmed(
    world: World, later: None
) -> None:
    sid = _signed_up(world, "ada@example.com", n=0)
    world.services.signup.unsubscribe(make_token(world.settings.signing_key, "unsubscribe", sid))
    collected = world.repositories.collector_state
    collected.save(collected.load(sid, "2026-W48"))
    world.clock.set(lambda: wall_clock() + timedelta(minutes=22))
    assert world.sign_up(world.visitor(), "ada@example.com", world.accounts[1]).status == 200
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.x_user_id == world.accounts[0].user_id and sub.email_confirmed
    assert [i for i in world.table_items() if i["sk"] == "CURSORS"]
    assert "This replaces @" in mail_text(world.outbox()[-1].raw_data)


# -- 2. no enumeration ------------------------------------------------------------------------


def test_every_sign_in_that_needs_an_email_answers_with_the_same_page(world: World, later: None) -> None:
    def seen(address: str, n: int) -> str:
        page = world.sign_up(world.visitor(), address, world.accounts[n])
        assert page.status == 200, page.text
        return page.text.replace(address, "ADDRESS")

    _signed_up(world, "taken@example.com", n=0)  # confirmed, in its cooldown afterwards
    world.repositories.suppression.suppress("bounced@example.com", "bounce")
    pages = {
        "new address": seen("new@example.com", 1),
        "the same new address again (cooldown)": seen("new@example.com", 1),
        "an address subscribed with another account": seen("taken@example.com", 1),
        "a suppressed address": seen("bounced@example.com", 2),
    }
    world.clock.set(lambda: wall_clock() + timedelta(minutes=22))
    pages["an address subscribed with another account, after its cooldown"] = seen("taken@example.com", 2)
    assert len(set(pages.values())) == 1, pages
    assert "Check your email" in pages["new address"]


# -- 3. flooding ------------------------------------------------------------------------------


def test_mailboxes_ignore_tags_case_and_gmail_dots() -> None:
    assert mailbox("Target+1@Example.com") == mailbox("target+2@example.com") == "target@example.com"
    assert mailbox("a.d.a+x@googlemail.com") == mailbox("ada@gmail.com") == "ada@gmail.com"
    assert mailbox("a.da@example.com") == "a.da@example.com"  # only where the provider ignores dots


def test_one_x_account_cannot_flood_one_mailbox_through_plus_addresses(world: World) -> None:
    for n in range(4):
        assert world.sign_up(world.visitor(), f"target+{n}@example.com", world.accounts[0]).status == 200
    assert [set(m.destinations) for m in world.outbox()] == [{"target+0@example.com"}]


def test_one_x_account_gets_a_handful_of_confirmation_emails_a_day(world: World) -> None:
    most = dict((kind, n) for kind, n, _ in service.EMAIL_LIMITS)["XUSER"]
    for n in range(most + 3):
        assert world.sign_up(world.visitor(), f"person{n}@example{n}.com", world.accounts[0]).status == 200
    assert len(world.outbox()) == most
    limited = f"person{most}@example{most}.com"
    assert not [i for i in world.table_items() if i["sk"] == "CONFIRMATION" and i["pk"] == f"EMAIL#{limited}"]
    # another account is not held back by it
    assert world.sign_up(world.visitor(), "someone@else.example", world.accounts[1]).status == 200
    assert len(world.outbox()) == most + 1


def test_one_client_gets_a_limited_number_of_confirmation_emails(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "EMAIL_LIMITS", (("XUSER", 5, 86400), ("MAILBOX", 5, 86400), ("CLIENT", 3, 3600)))
    for n in range(5):
        page = world.sign_up(world.visitor(), f"p{n}@example{n}.com", world.accounts[n % 3], source_ip="203.0.113.7")
        assert page.status == 200
    assert len(world.outbox()) == 3
    assert world.sign_up(world.visitor(), "p9@example9.com", world.accounts[2], source_ip="198.51.100.1").status == 200
    assert len(world.outbox()) == 4
    assert "203.0.113.7" not in json.dumps(world.table_items(), default=repr)  # counted by digest only


def test_the_one_click_route_has_throttling_room_of_its_own() -> None:
    resources = translated()["Resources"]
    stage = resources["HttpApiStage"]
    own = stage["Properties"]["RouteSettings"]["POST /unsubscribe"]
    assert own["ThrottlingRateLimit"] > stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"]
    assert own["ThrottlingBurstLimit"] > 0
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }
    assert routes["POST /unsubscribe"]["Target"] == routes["$default"]["Target"]
    assert "UnsubscribeRoute" in ([stage["DependsOn"]] if isinstance(stage["DependsOn"], str) else stage["DependsOn"])


# -- 4. RFC 8058 one-click --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("Application/X-WWW-Form-Urlencoded", b"List-Unsubscribe=One-Click"),
        ("application/x-www-form-urlencoded; charset=UTF-8", b"List-Unsubscribe=One-Click"),
        ("multipart/form-data", b"List-Unsubscribe=One-Click"),
        (
            "multipart/form-data; boundary=zz",
            b'--zz\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--zz--\r\n',
        ),
        (None, b""),
        (None, b"List-Unsubscribe=One-Click"),
        ("text/plain", b"List-Unsubscribe=One-Click"),
        ("application/json", b"{"),
        ("application/octet-stream", b"\xff\xfe not UTF-8"),
    ],
)
def test_one_click_unsubscribes_with_a_valid_token_whatever_the_body(
    world: World, content_type: str | None, body: bytes
) -> None:
    sid = _signed_up(world, "ada@example.com")
    token = make_token(world.settings.signing_key, "unsubscribe", sid)
    headers = {"content-type": content_type} if content_type else {}
    page = world.visitor().post(f"/unsubscribe?token={token}", body=body, headers=headers)
    assert page.status == 200 and "You are unsubscribed" in page.text
    assert world.repositories.subscribers.get_subscriber(sid).status == "unsubscribed"  # type: ignore[union-attr]


def test_a_form_that_is_not_utf8_is_still_refused(world: World) -> None:
    sid = _signed_up(world, "ada@example.com")
    token = make_token(world.settings.signing_key, "unsubscribe", sid)
    page = world.visitor().post(
        "/unsubscribe",
        body=b"token=" + token.encode() + b"\xff",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert page.status == 400 and world.repositories.subscribers.get_subscriber(sid).status == "active"  # type: ignore[union-attr]


def test_one_click_with_a_bad_token_changes_nothing(world: World) -> None:
    sid = _signed_up(world, "ada@example.com")
    forged = make_token("another-secret-entirely", "unsubscribe", sid)
    page = world.visitor().post(f"/unsubscribe?token={forged}", body=b"", headers={"content-type": "text/plain"})
    assert page.status == 400 and world.repositories.subscribers.get_subscriber(sid).status == "active"  # type: ignore[union-attr]


# -- 5. deliverable addresses; a failed send ----------------------------------------------------


@pytest.mark.parametrize("typed", ["ü@example.com", "%ff%fe@x.com", "=?utf-8?q?admin?=@example.com"])
def test_addresses_ses_cannot_deliver_to_are_refused_with_a_message(world: World, typed: str) -> None:
    visitor = world.visitor()
    before = world.table_items()
    encoded = typed if typed.startswith("%") else typed.replace("=", "%3D").replace("?", "%3F")
    body = (
        f"email={encoded}&consent=yes&digest_day=1&digest_hour=8&time_zone=UTC&csrf_token={visitor.form_token()}"
    ).encode()
    page = visitor.post("/signup", body=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert page.status == 422 and 'id="email-error"' in page.body, page.text
    assert world.table_items() == before


def test_a_non_ascii_local_part_is_told_why(world: World) -> None:
    visitor = world.visitor()
    page = visitor.post(
        "/signup",
        form={
            "email": "jürgen@example.com",
            "consent": "yes",
            "digest_day": "1",
            "digest_hour": "8",
            "time_zone": "UTC",
            "csrf_token": visitor.form_token(),
        },
    )
    assert page.status == 422 and "before the @" in page.text and "accents" in page.text


def test_an_international_domain_is_stored_in_punycode(world: World) -> None:
    assert world.sign_up(world.visitor(), "ada@bücher.example", world.accounts[0]).status == 200
    assert [p["email"] for p in world.profiles()] == ["ada@xn--bcher-kva.example"]
    assert set(world.outbox()[-1].destinations) == {"ada@xn--bcher-kva.example"}


def test_a_failed_confirmation_send_says_so_and_a_retry_sends(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    real = world.services.mailer.send
    failures = [ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "SendRawEmail")]

    def flaky(recipient: str, raw: bytes) -> str:
        if failures:
            raise failures.pop()
        return real(recipient, raw)

    monkeypatch.setattr(world.services.mailer, "send", flaky)
    page = world.sign_up(world.visitor(), "ada@example.com", world.accounts[0])
    assert page.status == 503 and "could not send" in page.text and world.outbox() == []
    again = world.sign_up(world.visitor(), "ada@example.com", world.accounts[0])
    assert again.status == 200 and [set(m.destinations) for m in world.outbox()] == [{"ada@example.com"}]
    assert world.visitor().confirm(confirm_link(world.outbox()[-1].raw_data)).status == 200


# -- 6. smaller -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bounces", "collect", "digest", "dispatch", "signup"])
def test_every_function_keeps_the_sdk_loggers_quiet_at_debug(name: str) -> None:
    from followthrough.signup import web

    root = logging.getLogger()
    saved = (root.level, {n: logging.getLogger(n).level for n in SDK_LOGGERS})
    # a second signup app takes the shared router (its context, its current event): give it back afterwards to the
    # module's ``function``, as a Lambda process only ever has the one app
    resolver = web.router.api_resolver
    try:
        root.setLevel(logging.DEBUG)
        for logger_name in SDK_LOGGERS:
            logging.getLogger(logger_name).setLevel(logging.NOTSET)
        load_function(name)
        assert logging.getLogger("botocore").getEffectiveLevel() >= logging.INFO
        assert not logging.getLogger("botocore.endpoint").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved[0])
        for logger_name, level in saved[1].items():
            logging.getLogger(logger_name).setLevel(level)
        web.router.api_resolver = resolver


def test_a_kms_ciphertext_decrypts_only_for_its_own_subscriber(world, aws: Any) -> None:
    key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    cipher = KmsCipher(key)
    blob = cipher.encrypt('{"access": "a"}', "sub-1")
    assert cipher.decrypt(blob, "sub-1") == '{"access": "a"}'
    with pytest.raises(TokenDecryptError):
        cipher.decrypt(blob, "sub-2")


def test_a_token_ciphertext_swapped_onto_another_subscriber_does_not_decrypt(world: World, aws: Any) -> None:
    ada = _signed_up(world, "ada@example.com", n=0)
    bob = _signed_up(world, "bob@example.com", n=1)
    table = boto3.resource("dynamodb").Table(world.settings.require("table_name"))
    stolen = table.get_item(Key={"pk": f"SUB#{ada}", "sk": "TOKEN"})["Item"]["ciphertext"]
    table.update_item(
        Key={"pk": f"SUB#{bob}", "sk": "TOKEN"},
        UpdateExpression="SET ciphertext = :c",
        ExpressionAttributeValues={":c": stolen},
    )
    with pytest.raises(TokenDecryptError):
        world.services.token_keeper.access_token(bob)
    with pytest.raises(TokenDecryptError):
        LocalCipher("k").decrypt(LocalCipher("k").encrypt("x", "sub-1"), "sub-2")


def test_delete_everything_deletes_the_digests_idempotency_records(
    world: World, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from followthrough.pipeline.digest import DigestResult

    sid = _signed_up(world, "ada@example.com")

    class Sender:
        def send(self, request: DigestRequest) -> DigestResult:
            world.repositories.weeks.mark_week(request.subscriber_id, request.week, "sent", "m-1")
            return DigestResult("sent", request.subscriber_id, request.week, message_id="m-1")

    monkeypatch.setattr(world.services.digest, "sender", Sender())
    other = _signed_up(world, "bob@example.com", n=1)
    for who in (sid, other):
        for week in ("2026-W47", "2026-W48"):
            world.services.digest.run(DigestRequest(subscriber_id=who, week=week))

    def records() -> int:
        return len([i for i in world.table_items() if i["pk"] == "IDEMPOTENCY#digest"])

    assert records() == 4
    visitor = world.visitor()
    asked = visitor.get(path_of(link(PUBLIC, "delete", world.settings.signing_key, sid)))
    done = visitor.post("/delete", form={"token": asked.field("token"), "csrf_token": asked.field("csrf_token")})
    assert done.status == 200 and "Everything is deleted" in done.text
    assert records() == 2  # bob's stay
    assert sid not in json.dumps(world.table_items(), default=repr)


def test_pages_ask_browsers_for_https_only(world: World) -> None:
    for page in (world.visitor().get("/"), world.visitor().get("/confirm?token=x"), world.visitor().get("/nope")):
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert int(page.headers["strict-transport-security"].split("=")[1].split(";")[0]) >= 31536000


def test_head_of_the_form_answers_like_get_without_a_body(world: World) -> None:
    head = world.visitor().request("HEAD", "/")
    assert head.status == 200 and head.body == "" and head.headers["content-type"].startswith("text/html")
    assert head.set_cookies == []
