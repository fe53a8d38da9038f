"""The preference centre and the data rights through the real handler: the settings link every digest carries
opens a page that changes day, hour and time zone and pauses for 1-8 weeks (CSRF + POST); the view link shows
the digest as sent; the export link's page downloads everything stored (never tokens). Each link does its one
thing, and no other link opens its page (signed-link purposes)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from followthrough.cursors import Spend
from followthrough.links import MAX_AGE_S, InvalidLink, confirmation_digest, link, make_token, read_link
from followthrough.messages import DigestRequest
from followthrough.pipeline.dispatch import dispatch
from followthrough.report import WeeklyReport
from followthrough.signup.forms import CONSENT_TEXT, CONSENT_VERSION
from followthrough.subscriber import DIGEST_SECTIONS, OPTIONAL_READS, iso_week
from tests.support.aws import outbox
from tests.support.signup import (  # noqa: F401 (fixtures)
    PUBLIC,
    Visitor,
    World,
    confirm_link,
    function_fixture,
    mail_text,
    path_of,
    world_fixture,
)

PURPOSES = list(MAX_AGE_S)


def _subscribed(world: World) -> str:
    assert world.sign_up(world.visitor(), "ada@example.com", world.accounts[0]).status == 200
    sub = world.services.signup.confirm(parse_qs(urlsplit(confirm_link(outbox()[-1].raw_data)).query)["token"][0])
    return sub.subscriber_id


def _settings_link(world: World, subscriber_id: str) -> str:
    return path_of(link(PUBLIC, "settings", world.settings.signing_key, subscriber_id))


def _save(visitor: Visitor, asked: Any, **changes: Any) -> Any:
    form = {
        "token": asked.field("token"),
        "csrf_token": asked.field("csrf_token"),
        "digest_day": "0",
        "digest_hour": "8",
        "time_zone": "UTC",
        "pause_weeks": "0",
        "sections": list(DIGEST_SECTIONS),
        "reads": list(OPTIONAL_READS),
        **changes,
    }
    return visitor.post("/settings", form=form)


def _digest_sent(world: World, subscriber_id: str) -> str:
    """Store a report for this week and send its digest; returns the digest's plain text."""
    week = iso_week(world.services.now())
    sub = world.repositories.subscribers.get_subscriber(subscriber_id)
    assert sub is not None
    world.repositories.weeks.put_week(
        subscriber_id,
        week,
        WeeklyReport(
            subscriber_id=subscriber_id, username=sub.username or "", week=week, generated_at=world.services.now()
        ),
        Spend(usd={"users_me": 0.01}),
    )
    assert world.services.digest_sender.send(DigestRequest(subscriber_id=subscriber_id, week=week)).outcome == "sent"
    return mail_text(outbox()[-1].raw_data)


def _digest_link(text: str, purpose: str) -> str:
    [found] = [u for u in text.split() if f"/{purpose}?token=" in u]
    return found


def test_every_digest_carries_a_settings_link_to_the_subscribers_page(world: World) -> None:
    sid = _subscribed(world)
    found = [_digest_link(_digest_sent(world, sid), "settings")]
    assert found
    assert read_link(world.settings.signing_key, "settings", found[0].split("token=")[1]).subscriber_id == sid
    page = world.visitor().get(path_of(found[0]))
    assert page.status == 200 and "Your digest settings" in page.text and "a•••@example.com" in page.text


def test_the_settings_page_changes_the_schedule_and_the_due_slot(world: World) -> None:
    sid = _subscribed(world)
    visitor = world.visitor()
    asked = visitor.get(_settings_link(world, sid))
    assert asked.status == 200 and 'action="/settings"' in asked.body
    assert world.repositories.subscribers.get_subscriber(sid).digest_day == 1  # type: ignore[union-attr]  # the page changed nothing
    done = _save(visitor, asked, digest_day="4", digest_hour="19", time_zone="Asia/Tokyo")
    assert done.status == 200 and "Saved." in done.text
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and (sub.digest_day, sub.digest_hour, sub.time_zone) == (4, 19, "Asia/Tokyo")
    assert sub.receives_digest and sub.email == "ada@example.com" and sub.status == "active"
    slot = sub.due_slot(world.services.now())
    assert [s.subscriber_id for s in world.repositories.subscribers.due_subscribers(slot)] == [sid]
    assert 'value="4" selected' in done.body and "<option selected>Asia/Tokyo</option>" in done.body


def test_a_pause_skips_the_weeks_and_resuming_brings_the_digest_back(world: World) -> None:
    sid = _subscribed(world)
    visitor = world.visitor()
    done = _save(visitor, visitor.get(_settings_link(world, sid)), digest_day="1", pause_weeks="3")
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.paused_until is not None
    assert timedelta(weeks=3) - timedelta(minutes=1) < sub.paused_until - world.services.now() <= timedelta(weeks=3)
    assert "Paused until" in done.text and 'value="3" selected' in done.body

    def queued(at: Any) -> int:
        return dispatch(world.repositories.subscribers, world.services.collect_queue, at).queued

    due = world.services.now() + timedelta(days=7)
    while sub.due_slot(due) != f"DUE#{due.weekday()}#{due.hour:02d}":
        due += timedelta(hours=1)
    assert queued(due) == 0  # within the pause
    again = _save(visitor, visitor.get(_settings_link(world, sid)), digest_day="1", pause_weeks="3")
    assert world.repositories.subscribers.get_subscriber(sid).paused_until == sub.paused_until  # type: ignore[union-attr]  # kept
    assert "Keep paused until" in again.body
    _save(visitor, visitor.get(_settings_link(world, sid)), digest_day="1", pause_weeks="0")  # resume
    assert world.repositories.subscribers.get_subscriber(sid).paused_until is None  # type: ignore[union-attr]
    assert queued(due) == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"pause_weeks": "9"},
        {"pause_weeks": "-1"},
        {"digest_day": "7"},
        {"time_zone": "Mars/Olympus"},
        {"digest_hour": "x"},
    ],
)
def test_values_the_page_does_not_offer_are_refused_and_change_nothing(world: World, changes: dict[str, str]) -> None:
    sid = _subscribed(world)
    before = world.repositories.subscribers.get_subscriber(sid)
    visitor = world.visitor()
    refused = _save(visitor, visitor.get(_settings_link(world, sid)), **changes)
    assert refused.status == 400 and "cannot be saved" in refused.text
    assert world.repositories.subscribers.get_subscriber(sid) == before


def test_saving_settings_needs_the_pages_anti_forgery_token(world: World) -> None:
    sid = _subscribed(world)
    token = make_token(world.settings.signing_key, "settings", sid)
    forged = world.visitor().post(
        "/settings",
        form={"token": token, "digest_day": "5", "digest_hour": "8", "time_zone": "UTC", "pause_weeks": "8"},
    )
    assert forged.status == 403 and world.repositories.subscribers.get_subscriber(sid).digest_day == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("made_for", PURPOSES)
@pytest.mark.parametrize("used_for", PURPOSES)
def test_a_signed_link_works_for_its_own_purpose_only(made_for: str, used_for: str) -> None:
    key = "a-signing-key-for-the-purpose-tests"
    confirms = confirmation_digest("a@example.com", "1") if made_for == "confirm" else None
    week = "2026-W48" if made_for == "view" else None
    token = make_token(key, made_for, "sub-1", confirms=confirms, week=week)  # type: ignore[arg-type]
    if made_for == used_for:
        assert read_link(key, used_for, token).subscriber_id == "sub-1"  # type: ignore[arg-type]
    else:
        with pytest.raises(InvalidLink):
            read_link(key, used_for, token)  # type: ignore[arg-type]


def test_a_settings_link_cannot_unsubscribe_delete_or_confirm(world: World) -> None:
    sid = _subscribed(world)
    token = make_token(world.settings.signing_key, "settings", sid)
    visitor = world.visitor()
    for target in ("/unsubscribe", "/delete", "/confirm"):
        assert visitor.get(f"{target}?token={token}").status == 400, target
    assert visitor.post(f"/unsubscribe?token={token}", form={"List-Unsubscribe": "One-Click"}).status == 400
    asked = visitor.get(path_of(link(PUBLIC, "delete", world.settings.signing_key, sid)))
    assert visitor.post("/delete", form={"token": token, "csrf_token": asked.field("csrf_token")}).status == 400
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.receives_digest
    for purpose in ("unsubscribe", "delete"):
        other = make_token(world.settings.signing_key, purpose, sid)  # type: ignore[arg-type]
        assert visitor.get(f"/settings?token={other}").status == 400, purpose


def test_the_view_link_shows_the_digest_as_it_was_sent(world: World) -> None:
    sid = _subscribed(world)
    view = _digest_link(_digest_sent(world, sid), "view")
    page = world.visitor().get(path_of(view))
    stored = world.repositories.weeks.get_digest(sid, iso_week(world.services.now()))
    assert page.status == 200 and page.headers["content-type"].startswith("text/html") and stored is not None
    assert "cid:" not in page.body and "Delete everything Followthrough stores about you" in page.body
    assert "default-src 'none'" in page.headers["content-security-policy"]
    other_week = make_token(world.settings.signing_key, "view", sid, week="2020-W01")
    assert world.visitor().get(f"/view?token={other_week}").status == 404
    assert world.visitor().get(path_of(view) + "x").status == 400


def test_download_my_data_asks_then_gives_everything_stored_but_the_tokens(world: World) -> None:
    from followthrough.analysis.models import Interaction

    sid = _subscribed(world)
    _digest_sent(world, sid)
    collected = world.repositories.collector_state
    state = collected.load(sid, iso_week(world.services.now()))
    state.graphs["following"] = {"42": [None, "someone"]}
    collected.save(
        state, graphs=["following"], ledger_updates={"42": Interaction(at=world.services.now(), kind="reply")}
    )
    stored = world.repositories.tokens.get_tokens(sid)
    assert stored is not None
    secrets = world.services.token_keeper.cipher.decrypt(stored.ciphertext, sid)
    visitor = world.visitor()
    asked = visitor.get(path_of(_digest_link(mail_text(outbox()[-1].raw_data), "export")))
    assert asked.status == 200 and "Download your data" in asked.text and 'action="/export"' in asked.body
    forged = world.visitor().post("/export", form={"token": asked.field("token")})
    assert forged.status == 403
    done = visitor.post("/export", form={"token": asked.field("token"), "csrf_token": asked.field("csrf_token")})
    assert done.status == 200 and done.headers["content-type"] == "application/json"
    assert "attachment" in done.headers["content-disposition"]
    data = json.loads(done.body)
    assert data["profile"]["email"] == "ada@example.com" and data["profile"]["subscriber_id"] == sid
    assert data["consent"]["version"] == CONSENT_VERSION and data["consent"]["text"] == CONSENT_TEXT
    [week] = data["weeks"].values()
    assert week["status"] == "sent" and week["report"]["subscriber_id"] == sid and week["x_spend"]["usd"]
    assert data["ledger"]["42"]["kind"] == "reply" and data["following"] == {"42": [None, "someone"]}
    for secret in json.loads(secrets).values():
        assert str(secret) not in done.body
    assert "ciphertext" not in done.body and "TOKEN" not in done.body


def test_an_export_link_opens_nothing_else_and_others_do_not_open_it(world: World) -> None:
    sid = _subscribed(world)
    token = make_token(world.settings.signing_key, "export", sid)
    visitor = world.visitor()
    for target in ("/unsubscribe", "/delete", "/settings", "/confirm", "/view"):
        assert visitor.get(f"{target}?token={token}").status == 400, target
    for purpose in ("settings", "unsubscribe", "delete"):
        other = make_token(world.settings.signing_key, purpose, sid)  # type: ignore[arg-type]
        assert visitor.get(f"/export?token={other}").status == 400, purpose
    assert world.repositories.subscribers.get_subscriber(sid).receives_digest  # type: ignore[union-attr]


def test_the_settings_page_leaves_out_sections_and_turns_off_optional_reads(world: World) -> None:
    sid = _subscribed(world)
    visitor = world.visitor()
    asked = visitor.get(_settings_link(world, sid))
    for name in (*DIGEST_SECTIONS, *OPTIONAL_READS):
        assert f'value="{name}" checked' in asked.body, name  # all on until turned off
    done = _save(visitor, asked, sections=["more_people", "posting", "dms"], reads=["dm_events"])
    assert done.status == 200
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.hidden_sections == ["challenge", "trends"] and sub.skipped_reads == ["followers"]
    assert 'value="challenge">' in done.body and 'value="posting" checked' in done.body
    assert sub.receives_digest


def test_the_search_for_mentions_without_the_at_is_off_until_ticked(world: World) -> None:
    sid = _subscribed(world)
    visitor = world.visitor()
    asked = visitor.get(_settings_link(world, sid))
    assert 'value="search_recent">' in asked.body  # offered, not ticked
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.opted_in_reads == []
    done = _save(visitor, asked, reads=[*OPTIONAL_READS, "search_recent"])
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.opted_in_reads == ["search_recent"] and sub.skipped_reads == []
    assert 'value="search_recent" checked' in done.body
    _save(visitor, done, reads=list(OPTIONAL_READS))  # unticked again: off
    sub = world.repositories.subscribers.get_subscriber(sid)
    assert sub is not None and sub.opted_in_reads == []


def test_left_out_sections_are_not_in_the_digest(world: World) -> None:
    from followthrough.digest.render import DigestLinks, render_digest
    from tests.support.digest import typical_report

    report = typical_report()
    links = DigestLinks(unsubscribe="https://u", delete="https://d")
    shown = render_digest(report, [], links)
    assert "THE @REPLY CHALLENGE" in shown.text and "DIRECT MESSAGES" in shown.text
    hidden = render_digest(report, [], links, hidden_sections=["challenge", "dms"])
    assert "THE @REPLY CHALLENGE" not in hidden.text and "DIRECT MESSAGES" not in hidden.text
    assert "@reply challenge" not in hidden.html.lower() and "Direct messages" not in hidden.html
    assert "Unsubscribe" in hidden.text


def test_an_optional_read_turned_off_costs_nothing_and_is_not_measured(aws: Any) -> None:
    from datetime import UTC, datetime

    from followthrough.messages import CollectRequest
    from followthrough_devkit.demo import start_world

    demo = start_world(seed=11, now=datetime(2026, 11, 23, 8, 0, tzinfo=UTC), profile="small", aws=aws)
    try:
        sid = demo.subscriber.subscriber_id
        demo.services.repositories.subscribers.update_subscriber(sid, skipped_reads=["followers"])
        result = demo.services.collect.run(CollectRequest(subscriber_id=sid, week="2026-W48"))
        assert result.status == "collected", result.reason
        assert demo.sim.meter.duplicates("followers") == 0 and "followers" not in result.spend.requests
        assert "followers: you turned this read off in your settings" in result.spend.skipped
        assert "following" in result.spend.requests  # the others are read as ever
    finally:
        demo.close()
