"""The sign-up and the subscriber lifecycle through the real handler (HttpApi events, in-process moto,
the X stand-in on loopback): form, OAuth with PKCE, double opt-in, re-sign-up, unsubscribe, delete."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from followthrough.adapters.x import SCOPES, TokenSet
from followthrough.bootstrap import wall_clock
from followthrough.links import link, make_token
from followthrough.signup.forms import CONSENT_TEXT, CONSENT_VERSION
from followthrough.signup.service import STATE_TTL_S, _state_key
from followthrough_devkit.cli import build_parser
from followthrough_devkit.lambda_runtime import invoke
from followthrough_devkit.xsim import pkce_challenge
from tests.support import factories
from tests.support.aws import outbox
from tests.support.signup import (  # noqa: F401 (fixtures)
    PUBLIC,
    World,
    confirm_link,
    function_fixture,
    mail_text,
    path_of,
    profiles,
    table_items,
    world_fixture,
)

EVENTS = Path(__file__).resolve().parents[1] / "events"


def _decrypted_tokens(world: World, subscriber_id: str) -> dict[str, str]:
    stored = world.repositories.tokens.get_tokens(subscriber_id)
    assert stored is not None
    return dict(json.loads(world.services.token_keeper.cipher.decrypt(stored.ciphertext, subscriber_id)))


def _due(world: World, subscriber_id: str) -> bool:
    sub = world.repositories.subscribers.get_subscriber(subscriber_id)
    assert sub is not None
    due = world.repositories.subscribers.due_subscribers(sub.due_slot(world.services.now()))
    return any(s.subscriber_id == subscriber_id for s in due)


def _signed_up(world: World, address: str = "ada@example.com", n: int = 0, **choices: str) -> str:
    """A confirmed, active subscriber; returns their id."""
    visitor = world.visitor()
    assert world.sign_up(visitor, address, world.accounts[n], **choices).status == 200
    page = visitor.confirm(confirm_link(outbox()[-1].raw_data))
    assert page.status == 200, page.text
    owner = world.repositories.signups.owner("EMAIL", address)
    assert owner is not None
    return owner


# -- the form ----------------------------------------------------------------------------------


def test_the_form_is_an_accessible_page_that_sets_the_anti_forgery_cookie(world: World) -> None:
    page = world.visitor().get("/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.body
    assert '<html lang="en">' in page.body and "novalidate" in page.body
    for field_id in ("email", "digest_day", "digest_hour", "time_zone", "consent"):
        assert f'<label for="{field_id}"' in page.body, field_id
        assert f'id="{field_id}" name="{field_id}"' in page.body or f'id="{field_id}"' in page.body
    assert CONSENT_TEXT in page.body and "links my X account to this email address" in CONSENT_TEXT
    assert "Europe/Paris" in page.body and ">US/Eastern<" not in page.body
    [cookie] = page.set_cookies
    assert cookie.startswith("ft_csrf=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"


def test_refused_fields_come_back_with_messages_tied_to_them_and_nothing_is_stored(world: World) -> None:
    visitor = world.visitor()
    before = table_items()
    page = visitor.post(
        "/signup",
        form={
            "email": "not an address",
            "digest_day": "9",
            "digest_hour": "8",
            "time_zone": "Mars/Olympus",
            "csrf_token": visitor.form_token(),
        },
    )
    assert page.status == 422
    for name in ("email", "digest_day", "time_zone", "consent"):
        assert f'id="{name}-error"' in page.body, name
        tag = re.search(rf'<(input|select)[^>]*id="{name}"[^>]*>', page.body, re.S)
        assert tag, name
        assert f"{name}-error" in tag.group(0) and 'aria-invalid="true"' in tag.group(0), tag.group(0)
    assert 'id="digest_hour-error"' not in page.body
    assert "Tick the box to agree" in page.text and "Enter an email address like" in page.text
    assert 'value="not an address"' in page.body  # what was typed stays in the field
    assert 'role="alert"' in page.body and '<a href="#email">' in page.body
    assert page.body.count("<title>Error: ") == 1
    assert table_items() == before


def test_a_good_form_redirects_to_x_with_pkce_and_keeps_the_verifier_for_ten_minutes(world: World) -> None:
    page = world.visitor().start("ada@example.com", digest_day="3", digest_hour="7", time_zone="Europe/Paris")
    assert page.status == 303
    location = page.headers["location"]
    assert location.startswith(world.x_server.base_url + "/i/oauth2/authorize?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["redirect_uri"] == f"{PUBLIC}/oauth/callback"
    assert query["scope"].split() == SCOPES and query["code_challenge_method"] == "S256"
    [state_item] = [i for i in table_items() if i["pk"].startswith("OAUTH#")]
    assert state_item["pk"] == f"OAUTH#{_state_key(query['state'])}"  # the state itself is not stored
    now = int(datetime.now(UTC).timestamp())
    assert now < int(state_item["ttl"]) <= now + STATE_TTL_S
    stored = json.loads(state_item["payload"])
    assert pkce_challenge(stored["code_verifier"]) == query["code_challenge"]
    [profile] = profiles()
    assert profile["status"] == "pending" and profile["email_confirmed"] is False and "gsi1pk" not in profile
    assert "ttl" in profile  # a sign-up that never comes back from X disappears
    assert profile["consent_version"] == CONSENT_VERSION and profile["consent_at"]
    assert (profile["digest_day"], profile["digest_hour"], profile["time_zone"]) == (3, 7, "Europe/Paris")


# -- the lifecycle -----------------------------------------------------------------------------


def test_sign_up_confirm_and_unsubscribe_with_one_click(world: World) -> None:
    visitor = world.visitor()
    account = world.accounts[0]
    page = world.sign_up(visitor, "ada@example.com", account, digest_day="4", time_zone="Asia/Tokyo")
    assert page.status == 200 and "Check your email" in page.text
    sid = world.repositories.signups.owner("EMAIL", "ada@example.com")
    assert sid is not None and world.repositories.signups.owner("XUSER", account.user_id) == sid
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.status == "pending" and not sub.email_confirmed and not _due(world, sid)
    assert sub.x_user_id == account.user_id and sub.username == account.username
    assert "ttl" in next(p for p in profiles() if p["subscriber_id"] == sid)  # until it is confirmed

    tokens = _decrypted_tokens(world, sid)  # stored encrypted, and they work on X
    assert world.sim.authenticate(tokens["access"]) is not None
    ciphertext = world.repositories.tokens.get_tokens(sid)
    assert ciphertext is not None and tokens["access"].encode() not in ciphertext.ciphertext

    [mail] = outbox()
    assert set(mail.destinations) == {"ada@example.com"}
    text = mail_text(mail.raw_data)
    assert f"@{account.username}" in text
    confirm = confirm_link(mail.raw_data)
    assert confirm.startswith(f"{PUBLIC}/confirm?token=")

    for _ in range(2):  # idempotent
        done = visitor.confirm(confirm)
        assert done.status == 200 and "Your address is confirmed" in done.text and "Fridays at 08:00" in done.text
        sub = world.repositories.subscribers.get_subscriber(sid)
        assert sub is not None and sub.status == "active" and sub.email_confirmed and _due(world, sid)

    unsubscribe = link(PUBLIC, "unsubscribe", world.settings.signing_key, sid)
    asked = world.visitor().get(path_of(unsubscribe))
    assert asked.status == 200 and "Unsubscribe?" in asked.text and "a•••@example.com" in asked.text
    assert asked.field("token") and 'action="/unsubscribe"' in asked.body
    assert world.repositories.subscribers.get_subscriber(sid).status == "active"  # type: ignore[union-attr]  # asking changes nothing

    for _ in range(2):  # RFC 8058: a mail client's POST, no cookie, no page
        gone = world.visitor().post(path_of(unsubscribe), form={"List-Unsubscribe": "One-Click"})
        assert gone.status == 200 and "You are unsubscribed" in gone.text
        sub = world.repositories.subscribers.get_subscriber(sid)
        assert sub is not None and sub.status == "unsubscribed" and not _due(world, sid)
    assert len(outbox()) == 1


def test_a_sign_up_nobody_confirms_expires_with_its_tokens_and_a_confirmed_one_stays(world: World) -> None:
    def expiring() -> dict[str, int]:
        return {
            i["sk"] if i["sk"] != "SUBSCRIBER" else i["pk"].split("#")[0]: int(i["ttl"])
            for i in table_items()
            if "ttl" in i and i["sk"] in {"PROFILE", "TOKEN", "SUBSCRIBER"}
        }

    before = int(datetime.now(UTC).timestamp())
    assert world.sign_up(world.visitor(), "ada@example.com", world.accounts[0]).status == 200
    waiting = expiring()
    assert set(waiting) == {"PROFILE", "TOKEN", "XUSER", "EMAIL"}  # everything that names the person
    # a day after the confirmation link (three days) stopped working
    assert all(before + 4 * 86400 <= ttl <= before + 4 * 86400 + 60 for ttl in waiting.values())
    assert world.visitor().confirm(confirm_link(outbox()[-1].raw_data)).status == 200
    assert expiring() == {}
    sid = world.repositories.signups.owner("EMAIL", "ada@example.com")
    assert sid is not None and world.repositories.subscribers.get_subscriber(sid).receives_digest  # type: ignore[union-attr]
    assert world.repositories.tokens.get_tokens(sid) is not None


def test_one_click_unsubscribe_also_accepts_a_multipart_body(world: World) -> None:
    sid = _signed_up(world)
    token = make_token(world.settings.signing_key, "unsubscribe", sid)
    body = b'--b1\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--b1--\r\n'
    page = world.visitor().post(
        f"/unsubscribe?token={token}", body=body, headers={"content-type": "multipart/form-data; boundary=b1"}
    )
    assert page.status == 200 and world.repositories.subscribers.get_subscriber(sid).status == "unsubscribed"  # type: ignore[union-attr]


def test_the_unsubscribe_page_form_posts_the_token(world: World) -> None:
    sid = _signed_up(world)
    visitor = world.visitor()
    asked = visitor.get(path_of(link(PUBLIC, "unsubscribe", world.settings.signing_key, sid)))
    done = visitor.post("/unsubscribe", form={"token": asked.field("token")})
    assert done.status == 200 and world.repositories.subscribers.get_subscriber(sid).status == "unsubscribed"  # type: ignore[union-attr]


def test_signing_up_again_with_the_same_account_and_address_updates_the_subscriber(world: World) -> None:
    sid = _signed_up(world, "ada@example.com")
    version = world.repositories.tokens.get_tokens(sid).version  # type: ignore[union-attr]
    old = _decrypted_tokens(world, sid)
    page = world.sign_up(
        world.visitor(),
        "Ada@Example.com",
        world.accounts[0],
        digest_day="6",
        digest_hour="18",
        time_zone="America/New_York",
    )
    assert page.status == 200 and "You are all set" in page.text and "Sundays at 18:00" in page.text
    assert len(profiles()) == 1 and len(outbox()) == 1  # no duplicate, no second email
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.status == "active" and sub.email_confirmed and _due(world, sid)
    assert (sub.digest_day, sub.digest_hour, sub.time_zone) == (6, 18, "America/New_York")
    assert world.repositories.tokens.get_tokens(sid).version == version + 1  # type: ignore[union-attr]
    assert _decrypted_tokens(world, sid)["access"] != old["access"]


def test_a_subscriber_who_must_reconnect_signs_in_again_and_is_active(world: World) -> None:
    account = world.accounts[1]
    sub = factories.subscriber(
        7,
        email="grace@example.com",
        x_user_id=account.user_id,
        username=account.username,
        status="needs_reauth",
        reconnect_email_sent_at=datetime.now(UTC),
    )
    stored = world.repositories
    stored.subscribers.put_subscriber(sub)
    stored.signups.claim("XUSER", account.user_id, sub.subscriber_id)
    stored.signups.claim("EMAIL", sub.email, sub.subscriber_id)
    world.services.token_keeper.save(
        sub.subscriber_id, TokenSet("revoked-access", "revoked-refresh", 0.0), expected_version=None
    )
    page = world.sign_up(world.visitor(), "grace@example.com", account)
    assert page.status == 200 and "You are all set" in page.text
    again = stored.subscribers.get_subscriber(sub.subscriber_id)
    assert again is not None and again.status == "active" and again.reconnect_email_sent_at is None
    assert _due(world, sub.subscriber_id) and len(profiles()) == 1 and outbox() == []
    assert world.sim.authenticate(_decrypted_tokens(world, sub.subscriber_id)["access"]) is not None


def test_a_new_address_for_an_active_subscriber_waits_for_its_confirmation(world: World) -> None:
    sid = _signed_up(world, "ada@example.com")
    page = world.sign_up(world.visitor(), "ada@new.example", world.accounts[0], digest_day="5")
    assert page.status == 200 and "Check your email" in page.text and "nothing changes until" in page.text
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.email == "ada@example.com" and sub.digest_day == 1 and _due(world, sid)
    mail = outbox()[-1]
    assert set(mail.destinations) == {"ada@new.example"}
    assert world.visitor().confirm(confirm_link(mail.raw_data)).status == 200
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.email == "ada@new.example" and sub.digest_day == 5 and sub.email_confirmed
    assert world.repositories.signups.owner("EMAIL", "ada@new.example") == sid
    assert world.repositories.signups.owner("EMAIL", "ada@example.com") is None
    assert len(profiles()) == 1


def test_another_x_account_for_a_confirmed_address_changes_nothing_until_confirmed(world: World) -> None:
    sid = _signed_up(world, "ada@example.com", n=0)
    collected = world.repositories.collector_state
    collected.save(collected.load(sid, "2026-W48"))  # some collected state of the old account
    first, second = world.accounts[0], world.accounts[1]
    page = world.sign_up(world.visitor(), "ada@example.com", second)
    # the cooldown holds back a second email; the first one's link is about the first account
    assert page.status == 200 and "Check your email" in page.text and len(outbox()) == 1
    assert world.visitor().confirm(confirm_link(outbox()[0].raw_data)).status == 200
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.x_user_id == first.user_id and _due(world, sid)  # someone else's account waits
    assert world.repositories.signups.owner("XUSER", second.user_id) is None
    world.clock.set(lambda: wall_clock() + timedelta(minutes=11))
    try:
        page = world.sign_up(world.visitor(), "ada@example.com", second)
        assert page.status == 200 and "Check your email" in page.text and len(outbox()) == 2
        assert world.visitor().confirm(confirm_link(outbox()[-1].raw_data)).status == 200
    finally:
        world.clock.set(wall_clock)
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.x_user_id == second.user_id and sub.username == second.username
    signups = world.repositories.signups
    assert signups.owner("XUSER", second.user_id) == sid and signups.owner("XUSER", first.user_id) is None
    assert not [i for i in table_items() if i["sk"] == "CURSORS"]  # the old account's history is gone
    assert world.sim.authenticate(_decrypted_tokens(world, sid)["access"]).user_id == second.user_id  # type: ignore[union-attr]


def test_an_address_nobody_confirmed_goes_to_the_account_that_signs_in_with_it(world: World) -> None:
    first, second = world.accounts[0], world.accounts[1]
    assert world.sign_up(world.visitor(), "shared@example.com", first).status == 200
    squatter = world.repositories.signups.owner("EMAIL", "shared@example.com")
    mine = _signed_up(world, "mine@example.com", n=1)
    page = world.sign_up(world.visitor(), "shared@example.com", second)
    assert page.status == 200 and "Check your email" in page.text
    assert world.repositories.subscribers.get_subscriber(squatter) is None  # type: ignore[arg-type]
    assert world.repositories.signups.owner("XUSER", first.user_id) is None
    # the squatter's email was the address's one email for a few minutes, and mine@'s link confirms mine@ only
    assert len(outbox()) == 2
    assert world.visitor().confirm(confirm_link(outbox()[-1].raw_data)).status == 200
    assert world.repositories.subscribers.get_subscriber(mine).email == "mine@example.com"  # type: ignore[union-attr]
    world.clock.set(lambda: wall_clock() + timedelta(minutes=11))
    try:
        assert world.sign_up(world.visitor(), "shared@example.com", second).status == 200 and len(outbox()) == 3
        assert world.visitor().confirm(confirm_link(outbox()[-1].raw_data)).status == 200
    finally:
        world.clock.set(wall_clock)
    sub = world.repositories.subscribers.get_subscriber(mine)
    assert sub is not None and sub.email == "shared@example.com" and len(profiles()) == 1


def test_an_address_confirmed_by_another_subscription_is_refused_in_an_email_to_it(world: World) -> None:
    _signed_up(world, "ada@example.com", n=0)
    _signed_up(world, "bob@example.com", n=1)
    before = [(p["subscriber_id"], p["email"], p["x_user_id"]) for p in profiles()]
    world.clock.set(lambda: wall_clock() + timedelta(minutes=11))  # ada@'s confirmation cooldown is over
    try:
        page = world.sign_up(world.visitor(), "ada@example.com", world.accounts[1])
    finally:
        world.clock.set(wall_clock)
    assert page.status == 200 and "Check your email" in page.text and "in use" not in page.text
    assert [(p["subscriber_id"], p["email"], p["x_user_id"]) for p in profiles()] == before
    told = outbox()[-1]
    assert set(told.destinations) == {"ada@example.com"} and len(outbox()) == 3
    text = mail_text(told.raw_data)
    assert "already receives a Followthrough digest" in text and f"@{world.accounts[1].username}" in text
    assert "/confirm?" not in text


def test_confirmation_emails_to_one_address_have_a_cooldown(world: World) -> None:
    assert world.sign_up(world.visitor(), "ada@example.com", world.accounts[0]).status == 200
    page = world.sign_up(world.visitor(), "ada@example.com", world.accounts[0], digest_day="2")
    assert page.status == 200 and "Check your email" in page.text
    assert len(outbox()) == 1
    stored = world.repositories
    sub = stored.subscribers.get_subscriber(stored.signups.owner("EMAIL", "ada@example.com"))  # type: ignore[arg-type]
    assert sub is not None and sub.digest_day == 2 and not sub.email_confirmed  # the first link still works
    assert world.visitor().confirm(confirm_link(outbox()[0].raw_data)).status == 200


def test_an_earlier_confirmation_link_never_confirms_a_later_address(world: World) -> None:
    """Double opt-in: whoever holds the first address's link must not confirm a second address with it."""
    sid = _signed_up(world, "ada@example.com", n=0)
    first_link = path_of(confirm_link(outbox()[-1].raw_data))
    page = world.sign_up(world.visitor(), "victim@example.com", world.accounts[0])
    assert page.status == 200 and "Check your email" in page.text and len(outbox()) == 2
    assert world.visitor().confirm(first_link).status == 200  # confirms ada@, which is confirmed already
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.email == "ada@example.com" and world.repositories.signups.get_pending_change(sid)
    assert world.visitor().confirm(confirm_link(outbox()[-1].raw_data)).status == 200
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.email == "victim@example.com" and sub.receives_digest
    refused = world.visitor().confirm(first_link)  # now about an address the subscription no longer has
    assert refused.status == 410 and "earlier email" in refused.text
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.email == "victim@example.com"


def test_a_confirmation_token_must_say_what_it_confirms(world: World) -> None:
    sid = _signed_up(world, "ada@example.com", n=0)
    with pytest.raises(ValueError, match="names what it confirms"):
        make_token(world.settings.signing_key, "confirm", sid)
    # a token of the old shape (no digest) is refused like a forged one
    from itsdangerous import URLSafeTimedSerializer

    bare = URLSafeTimedSerializer(world.settings.signing_key, salt="followthrough-links").dumps(
        {"p": "confirm", "s": sid}
    )
    assert world.visitor().get("/confirm?token=" + str(bare)).status == 400


def test_cancelling_on_x_links_nothing(world: World) -> None:
    visitor = world.visitor()
    started = visitor.start("ada@example.com")
    page = visitor.get(world.authorize(started.headers["location"], world.accounts[0], decision="deny"))
    assert page.status == 400 and "did not connect" in page.text
    assert world.repositories.signups.owner("XUSER", world.accounts[0].user_id) is None and outbox() == []


def test_x_failing_after_the_code_exchange_links_nothing_and_says_so(world: World) -> None:
    world.sim.faults.inject("users_me", 503, times=5)
    page = world.sign_up(world.visitor(), "ada@example.com", world.accounts[0])
    assert page.status == 503 and "X is not answering" in page.text
    assert world.repositories.signups.owner("XUSER", world.accounts[0].user_id) is None and outbox() == []
    assert not [i for i in table_items() if i["sk"] == "TOKEN"]


def test_delete_removes_everything_stored_for_the_subscriber(world: World) -> None:
    sid = _signed_up(world)
    repositories = world.repositories
    stored = repositories.tokens.get_tokens(sid)
    assert stored is not None
    pair = json.loads(world.services.token_keeper.cipher.decrypt(stored.ciphertext, sid))
    assert world.sim.authenticate(pair["access"]) is not None
    state = repositories.collector_state.load(sid, "2026-W48")
    state.graphs["following"] = {"42": [None, "someone"]}
    repositories.collector_state.save(state, graphs=["following"])
    repositories.weeks.mark_week(sid, "2026-W48", "sent", "m-1")
    visitor = world.visitor()
    asked = visitor.get(path_of(link(PUBLIC, "delete", world.settings.signing_key, sid)))
    assert asked.status == 200 and "Delete everything?" in asked.text and 'action="/delete"' in asked.body
    done = visitor.post("/delete", form={"token": asked.field("token"), "csrf_token": asked.field("csrf_token")})
    assert done.status == 200 and "Everything is deleted" in done.text
    assert world.sim.authenticate(pair["access"]) is None  # X forgot our access too
    left = json.dumps(table_items(), default=str)
    assert sid not in left and "ada@example.com" not in left and world.accounts[0].user_id not in left
    again = visitor.post("/delete", form={"token": asked.field("token"), "csrf_token": asked.field("csrf_token")})
    assert again.status == 200 and "Nothing is stored" in again.text
    assert world.visitor().confirm(confirm_link(outbox()[0].raw_data)).status == 404


# -- wiring ------------------------------------------------------------------------------------


def test_the_openapi_document_describes_every_route(world: World) -> None:
    page = world.visitor().get("/openapi.json")
    assert page.status == 200 and page.headers["content-type"].startswith("application/json")
    document = json.loads(page.body)
    assert set(document["paths"]) == {
        "/",
        "/signup",
        "/oauth/callback",
        "/confirm",
        "/unsubscribe",
        "/delete",
        "/settings",
        "/view",
        "/export",
    }
    form = document["paths"]["/signup"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["schema"]["$ref"].startswith("#/components/schemas/")
    body = document["components"]["schemas"][form["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(body["required"]) >= {"email", "consent", "digest_day", "digest_hour", "time_zone", "csrf_token"}
    # the zone list is what lets a client (and schemathesis) offer valid values
    assert {"UTC", "Europe/Paris", "America/Los_Angeles"} <= set(body["properties"]["time_zone"]["enum"])


@pytest.mark.parametrize("name", ["signup-form.json", "signup-post.json", "signup-unsubscribe-one-click.json"])
def test_sample_events_parse_and_run(world: World, name: str) -> None:
    raw = json.loads((EVENTS / name).read_text())
    event = APIGatewayProxyEventV2Model.model_validate(raw)
    if name == "signup-unsubscribe-one-click.json":
        sid = _signed_up(world)
        token = make_token(world.settings.signing_key, "unsubscribe", sid)
        raw["rawQueryString"], raw["queryStringParameters"] = f"token={token}", {"token": token}
    result = invoke("signup", raw, world.function)
    expected = {"signup-form.json": 200, "signup-post.json": 403, "signup-unsubscribe-one-click.json": 200}[name]
    assert result["statusCode"] == expected, result["body"][:300]
    assert event.requestContext.http.method in {"GET", "POST"}


def test_the_serve_command_is_registered() -> None:
    args = build_parser().parse_args(["serve", "--port", "0"])
    assert args.command == "serve" and args.port == 0


def test_events_carry_form_bodies_base64_encoded_and_cookies_apart(world: World) -> None:
    visitor = world.visitor()
    token = visitor.form_token()
    from followthrough_devkit.serve import http_event

    event = http_event(
        "POST",
        "/signup?x=1",
        [
            ("Host", "h"),
            ("Cookie", f"ft_csrf={visitor.cookies['ft_csrf']}"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        f"email=a%40example.com&consent=yes&digest_day=1&digest_hour=8&time_zone=UTC&csrf_token={token}".encode(),
    )
    assert event["isBase64Encoded"] is True and "cookie" not in event["headers"]
    assert event["cookies"] == [f"ft_csrf={visitor.cookies['ft_csrf']}"]
    assert event["queryStringParameters"] == {"x": "1"} and event["requestContext"]["http"]["method"] == "POST"
    assert visitor.invoke(event).status == 303
    plain = dict(
        event,
        isBase64Encoded=False,
        body=f"email=b%40example.com&consent=yes&digest_day=1&digest_hour=8&time_zone=UTC&csrf_token={token}",
    )
    assert visitor.invoke(plain).status == 303
    assert {p["email"] for p in profiles()} == {"a@example.com", "b@example.com"}


def test_when_the_monthly_post_cap_has_no_room_the_email_and_the_page_give_the_first_digests_date(
    world: World,
) -> None:
    from followthrough.config import PostCapConfig
    from followthrough.pipeline.postcap import describe_day

    visitor = world.visitor()
    assert world.sign_up(visitor, "ada@example.com", world.accounts[0]).status == 200
    assert "spoken for" not in mail_text(outbox()[-1].raw_data)  # room in the cap: no wait to announce
    assert "spoken for" not in visitor.confirm(confirm_link(outbox()[-1].raw_data)).text

    cap = world.services.post_cap
    cap.config = PostCapConfig(cap=1000)  # less than a first run is expected to read: it waits for next cycle
    day = describe_day(cap.cycle().end)
    visitor = world.visitor()
    assert world.sign_up(visitor, "grace@example.com", world.accounts[1]).status == 200
    mail = mail_text(outbox()[-1].raw_data)
    assert f"your first digest comes on your first digest day from {day} on" in mail
    page = visitor.confirm(confirm_link(outbox()[-1].raw_data))
    assert page.status == 200
    assert f"your first digest comes on your first digest day from {day} on" in page.text
