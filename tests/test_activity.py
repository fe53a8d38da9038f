"""X Activity API events for what polling cannot see: the webhook (CRC, signatures, idempotent storage), the
follow events in the collector and the analysis, and the subscriptions that follow a subscriber's lifecycle.

X is the stand-in (devkit/followthrough_devkit/xsim/activity.py), delivering to the real webhook function.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from followthrough.adapters.store.memory import memory_repositories
from followthrough.bootstrap import Services
from followthrough.follow_events import FollowEvent, apply_to_graphs
from followthrough.links import link
from followthrough.messages import CollectRequest
from followthrough.xmodels import XDmEvent
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.demo import DemoWorld, start_world
from tests.support.activity import CONSUMER_SECRET, WEBHOOK_URL, receive_events, webhook_deliverer
from tests.support.signup import (  # noqa: F401 (fixtures)
    PUBLIC,
    World,
    confirm_link,
    function_fixture,
    path_of,
    world_fixture,
)
from tests.support.twins import Twins, make_twins

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
FIRST, SECOND = "2026-W48", "2026-W49"


def docs_signature(secret: str, message: bytes) -> str:
    """x-api/webhooks/quickstart.mdx, "How to build the CRC response": written out here, not the product's."""
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _on_twins(twins: Twins, services: Services) -> Services:
    twins.repositories = memory_repositories(services.clock)
    return twins.install(services)


def _world(monkeypatch: pytest.MonkeyPatch, *, events: bool) -> Iterator[DemoWorld]:
    twins = make_twins(lambda: NOW)
    names = LocalAws(endpoint_url="")  # resource names only: the twins stand in for AWS
    for name in [*names.environ(), "X_API_BASE_URL", "POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_LOG_LEVEL"]:
        monkeypatch.setenv(name, "")
    w = start_world(seed=11, now=NOW, profile="small", aws=names, adapt=lambda services: _on_twins(twins, services))
    # as a sign-up leaves it: the subscriber owns their X account
    w.services.repositories.signups.claim("XUSER", str(w.subscriber.x_user_id), w.subscriber.subscriber_id)
    if events:
        receive_events(w.services, w.sim)
        assert w.services.subscriptions is not None and w.services.subscriptions.subscribe(w.subscriber)
    yield w
    w.close()


@pytest.fixture
def subscribed(monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoWorld]:
    """The demo subscriber, collected from the stand-in on in-memory twins, subscribed to follow events."""
    yield from _world(monkeypatch, events=True)


@pytest.fixture(params=["events", "polling"])
def either(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoWorld]:
    """The same world with follow events, or polled only (no webhook)."""
    yield from _world(monkeypatch, events=request.param == "events")


def _collect(world: DemoWorld, week: str) -> None:
    result = world.services.collect.run(CollectRequest(subscriber_id=world.subscriber.subscriber_id, week=week))
    assert result.status == "collected", result.reason


def _stored(world: DemoWorld) -> list[FollowEvent]:
    return world.services.repositories.activity.follow_events(world.subscriber.subscriber_id)


def _envelope(user_id: str, follower_id: str, event_id: str = "7953119945885597316") -> bytes:
    return json.dumps(
        {
            "data": {
                "event_uuid": event_id,
                "filter": {"user_id": user_id},
                "event_type": "follow.follow",
                "payload": {
                    "source": {"data": {"id": follower_id, "username": "fan"}},
                    "target": {"data": {"id": user_id, "username": "me"}},
                },
            }
        }
    ).encode()


# -- the webhook -------------------------------------------------------------------------------


def test_the_webhook_answers_xs_crc_challenge(subscribed: DemoWorld) -> None:
    world = subscribed
    deliver = webhook_deliverer(world.services)
    status, body = deliver("GET", "/x/webhook?crc_token=challenge_string", {}, b"")
    assert status == 200
    assert json.loads(body) == {"response_token": docs_signature(CONSUMER_SECRET, b"challenge_string")}
    assert deliver("GET", "/x/webhook", {}, b"")[0] == 400
    # and X's own check at registration passed through it
    assert [hook.url for hook in world.sim.activity.webhooks.values()] == [WEBHOOK_URL]


def test_an_unsigned_or_forged_event_is_refused_and_nothing_is_stored(subscribed: DemoWorld) -> None:
    world = subscribed
    deliver = webhook_deliverer(world.services)
    user_id = str(world.subscriber.x_user_id)
    body = _envelope(user_id, "555")
    forged = {
        "none": {},
        "other secret": {"x-twitter-webhooks-signature": docs_signature("not-our-secret", body)},
        "garbage": {"x-twitter-webhooks-signature": "sha256=AAAA"},
    }
    for headers in forged.values():
        assert deliver("POST", "/x/webhook", {"content-type": "application/json", **headers}, body)[0] == 401
    signed_other = {"x-twitter-webhooks-signature": docs_signature(CONSUMER_SECRET, body)}
    changed = body.replace(b"555", b"556")  # signed, then altered on the way
    assert deliver("POST", "/x/webhook", {"content-type": "application/json", **signed_other}, changed)[0] == 401
    assert _stored(world) == []
    # the same body signed with the consumer secret is taken
    assert deliver("POST", "/x/webhook", {"content-type": "application/json", **signed_other}, body)[0] == 200
    assert [(e.source_id, e.target_id) for e in _stored(world)] == [("555", user_id)]


def test_a_signed_body_in_an_unknown_shape_is_refused_with_nothing_stored(subscribed: DemoWorld) -> None:
    world = subscribed
    deliver = webhook_deliverer(world.services)
    body = json.dumps({"data": {"event_uuid": "1", "event_type": "follow.follow", "payload": {}}}).encode()
    headers = {
        "content-type": "application/json",
        "x-twitter-webhooks-signature": docs_signature(CONSUMER_SECRET, body),
    }
    assert deliver("POST", "/x/webhook", headers, body)[0] == 400
    assert _stored(world) == []


def test_repeated_and_out_of_order_deliveries_change_nothing_twice(subscribed: DemoWorld) -> None:
    world = subscribed
    _collect(world, FIRST)
    sim, hub, me = world.sim, world.sim.activity, str(world.subscriber.x_user_id)
    account = sim.accounts[me]
    strangers = [u for u in account.users if u not in {f.id for f in account.following} and u != me][:3]
    hub.duplicate_every, hub.hold = 1, True  # every event twice, and all held back
    for n, user_id in enumerate(strangers):
        sim.follow(me, user_id)
        sim.advance(60 * (n + 1))
    hub.release()  # newest first
    hub.replay()  # and X's replay job sends them all again
    assert len(hub.delivered) == 4 * len(strangers)
    events = _stored(world)
    assert sorted(e.target_id for e in events) == sorted(strangers)  # each once, by its event id

    state = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, SECOND)
    graphs = {which: dict(edges) for which, edges in state.graphs.items()}
    assert apply_to_graphs(graphs, events, me) == {"following"}
    again = {which: dict(edges) for which, edges in graphs.items()}
    assert apply_to_graphs(again, list(reversed(events)) + events, me) == set()  # applied again: no change
    assert again == graphs

    sim.advance(timedelta(days=7))
    _collect(world, SECOND)
    following = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, SECOND).graphs[
        "following"
    ]
    assert set(strangers) <= set(following)
    _collect(world, "2026-W50")  # a later run applies nothing twice
    assert (
        world.services.repositories.collector_state.load(world.subscriber.subscriber_id, SECOND).graphs["following"]
        == following
    )


# -- the collector and the analysis ------------------------------------------------------------


def test_an_unfollow_event_removes_the_followee_before_the_next_digest_without_a_list_reread(
    either: DemoWorld, request: pytest.FixtureRequest
) -> None:
    world, events = either, request.node.callspec.params["either"] == "events"
    _collect(world, FIRST)
    me = str(world.subscriber.x_user_id)
    account = world.sim.accounts[me]
    gone = account.following[len(account.following) // 2].id  # an old follow, deep in the list
    world.sim.follow(me, gone, unfollow=True)
    assert [e.event_type for e in _stored(world)] == (["follow.unfollow"] if events else [])
    world.sim.advance(timedelta(days=7))
    world.sim.meter.reset()
    _collect(world, SECOND)

    state = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, SECOND)
    stored = world.services.repositories.weeks.get_week(world.subscriber.subscriber_id, SECOND)
    assert stored is not None
    report, spend = stored
    read = world.sim.meter.snapshot()["following"]
    if events:
        assert gone not in state.graphs["following"]
        assert gone not in {p.user_id for p in report.passive_follows}
        # the event explained X's count going down by one: no page of the list is read, no re-read
        assert read["requests"] == 0 and read["resources"] == 0, read
        assert not [note for note in spend.notes if note.startswith("following")]
    else:
        # polling sees the count drop, but finding who left means re-reading the whole list, which one
        # week's re-read allowance does not cover (pipeline/followees.py): it goes on next week, the digest
        # says "as of" the last agreement, and whoever it names was looked up this week
        reread = world.sim.meter.snapshot()["users_lookup"]["resources"] + read["resources"]
        assert 0 < reread < len(account.following)
        assert any(note.startswith("following: re-reading who you follow") for note in spend.notes), spend.notes
        assert report.following_as_of is not None
        assert gone not in {p.user_id for p in report.passive_follows}


def test_a_follow_event_is_not_looked_for_again_in_the_list(either: DemoWorld, request: pytest.FixtureRequest) -> None:
    world, events = either, request.node.callspec.params["either"] == "events"
    _collect(world, FIRST)
    me = str(world.subscriber.x_user_id)
    account = world.sim.accounts[me]
    newcomer = next(u for u in account.users if u not in {f.id for f in account.following} and u != me)
    world.sim.follow(me, newcomer)
    world.sim.advance(timedelta(days=7))
    world.sim.meter.reset()
    _collect(world, SECOND)

    state = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, SECOND)
    assert newcomer in state.graphs["following"]
    # the event explained X's count going up by one, so no page is read; polling finds the follow at the top:
    # one small page, the head of the list; no re-read either way
    read = world.sim.meter.snapshot()["following"]
    if events:
        assert read["requests"] == 0, read
    else:
        assert read["requests"] == 1 and read["resources"] < 10, read
    assert state.cursors.followees.drift == 0 and not state.cursors.followees.rereading


def _plant_dm(world: DemoWorld, sender_id: str, text: str) -> str:
    me = str(world.subscriber.x_user_id)
    account = world.sim.accounts[me]
    at = world.sim.now()
    event_id = str((int(at.timestamp() * 1000) - 1288834974657) << 22)
    low, high = sorted([me, sender_id], key=int)
    account.dm_events.insert(
        0,
        XDmEvent(id=event_id, text=text, sender_id=sender_id, dm_conversation_id=f"{low}-{high}", created_at=at),
    )
    account.version += 1
    return event_id


def test_an_auto_dm_two_minutes_after_a_follow_is_flagged_with_that_reason(
    either: DemoWorld, request: pytest.FixtureRequest
) -> None:
    world, events = either, request.node.callspec.params["either"] == "events"
    me = str(world.subscriber.x_user_id)
    account = world.sim.accounts[me]
    followers = {u.id for u in account.followers}
    talked = {e.sender_id for e in account.dm_events} | {p for e in account.dm_events for p in e.participant_ids}
    newcomer = next(u for u in account.users if u not in followers and u not in talked and u != me)
    world.sim.followed_by(me, newcomer)
    world.sim.advance(120)
    event_id = _plant_dm(world, newcomer, "Thanks for the follow! Check out my course https://example.com/course")
    world.sim.advance(3600)
    _collect(world, FIRST)

    stored = world.services.repositories.weeks.get_week(world.subscriber.subscriber_id, FIRST)
    assert stored is not None
    flagged = {d.event_id: d for d in stored[0].auto_dms.received}
    if events:
        assert event_id in flagged, [d.reasons for d in stored[0].auto_dms.received]
        assert "sent right after they followed you" in flagged[event_id].reasons
        assert stored[0].metrics["new_followers"] == 1  # X dated this follow; the rest came before anyone looked
    else:
        # a first collection cannot tell when anyone followed: without X's time the signal is missing
        assert event_id not in flagged or "sent right after they followed you" not in flagged[event_id].reasons


def test_a_revocation_event_marks_the_subscriber_at_once(subscribed: DemoWorld) -> None:
    world = subscribed
    sid = world.subscriber.subscriber_id
    world.sim.revoke(str(world.subscriber.x_user_id))
    subscriber = world.services.repositories.subscribers.get_subscriber(sid)
    assert subscriber is not None and subscriber.status == "needs_reauth"
    assert subscriber.reconnect_email_sent_at is not None
    assert world.sim.activity.of_user(str(world.subscriber.x_user_id)) == []  # X sends nothing more of theirs
    world.sim.revoke(str(world.subscriber.x_user_id))  # X says it again: still one email
    mailed = world.services.mailer.sent  # type: ignore[attr-defined]
    assert [m.destinations for m in mailed] == [[world.subscriber.email]]


# -- subscriptions and the subscriber's lifecycle ----------------------------------------------


def test_subscriptions_follow_the_lifecycle_within_the_allowance(world: World) -> None:
    hub = world.sim.activity
    receive_events(world.services, world.sim, limit=5)  # the app's oauth.revoke and two subscribers
    activity = world.repositories.activity

    def signed_up(address: str, n: int) -> str:
        visitor = world.visitor()
        world.sign_up(visitor, address, world.accounts[n])
        assert visitor.confirm(confirm_link(world.outbox()[-1].raw_data)).status == 200
        sid = world.repositories.signups.owner("EMAIL", address)
        assert sid is not None
        return sid

    def types_of(n: int) -> set[str]:
        return {s.event_type for s in hub.of_user(world.accounts[n].user_id)}

    first, second, third = (signed_up(f"person{n}@example.com", n) for n in range(3))
    assert types_of(0) == types_of(1) == {"follow.follow", "follow.unfollow"}
    assert [s.event_type for s in hub.subscriptions.values() if s.user_id is None] == ["oauth.revoke"]
    assert types_of(2) == set()  # past the allowance: polled only, and confirmed all the same
    third_sub = world.repositories.subscribers.get_subscriber(third)
    assert third_sub is not None and third_sub.receives_digest
    assert activity.subscriptions_held() == len(hub.subscriptions) == 5

    unsubscribe = link(PUBLIC, "unsubscribe", world.settings.signing_key, first)
    assert world.visitor().post(path_of(unsubscribe), form={"List-Unsubscribe": "One-Click"}).status == 200
    assert types_of(0) == set() and activity.subscriptions_held() == len(hub.subscriptions) == 3

    visitor = world.visitor()
    asked = visitor.get(path_of(link(PUBLIC, "delete", world.settings.signing_key, second)))
    done = visitor.post("/delete", form={"token": asked.field("token"), "csrf_token": asked.field("csrf_token")})
    assert done.status == 200 and "Everything is deleted" in done.text
    assert types_of(1) == set() and activity.subscriptions_held() == len(hub.subscriptions) == 1

    # room again: the third subscriber's next sign-in subscribes them
    again = world.sign_up(world.visitor(), "person2@example.com", world.accounts[2])
    assert again.status == 200
    assert types_of(2) == {"follow.follow", "follow.unfollow"} and activity.subscriptions_held() == 3


# -- the Activity API client -------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        {"data": {"subscription_id": "77", "event_type": "follow.follow"}},  # activity/quickstart.mdx, create
        {"data": [{"subscription_id": "77"}], "meta": {"total_subscriptions": 1}},  # the quickstart's first example
        {"data": {"subscription": {"subscription_id": "77"}}},  # openapi.json CreateActivitySubscriptionResponse
    ],
    ids=["data", "list", "openapi"],
)
def test_the_client_reads_each_documented_shape_of_a_created_subscription(answer: dict[str, object]) -> None:
    import responses

    from followthrough.adapters.x import ACTIVITY_SUBSCRIPTIONS_URL, XActivityApi

    with responses.RequestsMock() as mock:
        mock.post(ACTIVITY_SUBSCRIPTIONS_URL, json=answer)
        api = XActivityApi(app_bearer_token="app", webhook_id="5")
        assert api.create("follow.follow", "100", "user-token") == "77"
        sent = mock.calls[0].request
        assert sent.headers["Authorization"] == "Bearer user-token"
        assert json.loads(sent.body) == {"event_type": "follow.follow", "filter": {"user_id": "100"}, "webhook_id": "5"}


def test_the_client_tells_transient_failures_from_refusals_and_a_gone_subscription_is_deleted() -> None:
    import responses

    from followthrough.adapters.x import (
        ACTIVITY_SUBSCRIPTIONS_URL,
        XActivityApi,
        XActivityRefused,
        XAuthRevoked,
        XUnavailable,
    )

    api = XActivityApi(app_bearer_token="app", webhook_id="5")
    with responses.RequestsMock() as mock:
        for status, error in ((503, XUnavailable), (429, XUnavailable), (401, XAuthRevoked), (400, XActivityRefused)):
            mock.post(
                ACTIVITY_SUBSCRIPTIONS_URL, status=status, json={"errors": [{"title": "SubscriptionLimitExceeded"}]}
            )
            with pytest.raises(error):
                api.create("follow.follow", "100", "user-token")
            mock.reset()
        mock.delete(f"{ACTIVITY_SUBSCRIPTIONS_URL}/77", status=404, json={"errors": [{"title": "Not Found"}]})
        api.delete("77")  # already gone at X: deleted
        assert mock.calls[-1].request.headers["Authorization"] == "Bearer app"  # deletes take the app's token


# -- the stand-in ------------------------------------------------------------------------------


def test_the_stand_in_holds_1500_subscriptions_each_one_event_type_for_one_user() -> None:
    from followthrough_devkit.xsim import XSim
    from followthrough_devkit.xsim.activity import SUBSCRIPTION_LIMIT

    sim = XSim(anchor=NOW, realtime=False)
    sim.activity.app_bearer_token = "app"
    bearer = {"Authorization": "Bearer app", "Content-Type": "application/json"}

    def create(body: dict[str, object]) -> tuple[int, dict[str, object]]:
        answer = sim.handle("POST", "/2/activity/subscriptions", bearer, json.dumps(body).encode())
        return answer.status, json.loads(answer.body)

    assert SUBSCRIPTION_LIMIT == 1500  # self-serve (x-api/activity/introduction.mdx)
    for n in range(SUBSCRIPTION_LIMIT):
        status, _ = create({"event_type": "follow.follow", "filter": {"user_id": str(1000 + n)}})
        assert status == 200
    status, refused = create({"event_type": "follow.unfollow", "filter": {"user_id": "1000"}})
    assert status == 400 and "SubscriptionLimitExceeded" in json.dumps(refused)
    assert create({"event_type": "follow.follow", "filter": {}})[0] == 400  # follow events name their user
    first = next(iter(sim.activity.subscriptions))
    assert sim.handle("DELETE", f"/2/activity/subscriptions/{first}", {"Authorization": "Bearer nope"}).status == 401
    deleted = sim.handle("DELETE", f"/2/activity/subscriptions/{first}", bearer)
    assert deleted.status == 200 and json.loads(deleted.body)["meta"]["total_subscriptions"] == SUBSCRIPTION_LIMIT - 1
    assert create({"event_type": "follow.unfollow", "filter": {"user_id": "1000"}})[0] == 200  # room again


def test_the_stand_in_registers_only_a_webhook_that_answers_the_crc() -> None:
    from followthrough_devkit.xsim import XSim

    sim = XSim(anchor=NOW, realtime=False)
    hub = sim.activity
    hub.consumer_secret = "secret"
    hub.deliver = lambda method, target, headers, body: (200, b'{"response_token": "sha256=wrong"}')
    assert hub.register_webhook(WEBHOOK_URL)[0] == 400 and not hub.webhooks
    assert hub.register_webhook("https://hooks.example:8443/x/webhook")[0] == 400  # X refuses a port


def test_an_event_stored_late_changes_nothing_a_later_one_settled() -> None:
    at = NOW
    follow = FollowEvent(event_id="a", event_type="follow.follow", source_id="1", target_id="9", at=at)
    unfollow = follow.model_copy(
        update={"event_id": "b", "event_type": "follow.unfollow", "at": at + timedelta(minutes=1)}
    )
    graphs: dict[str, dict[str, list[str | None]]] = {
        "following": {"9": [None, "nine"], "2": [None, "two"]},
        "followers": {},
    }
    assert apply_to_graphs(graphs, [unfollow], "1") == {"following"}
    assert "9" not in graphs["following"]
    # the earlier follow is stored only now (a webhook racing a collect): the unfollow still decides
    assert apply_to_graphs(graphs, [follow, unfollow], "1", new={"a"}) == set()
    assert "9" not in graphs["following"]
    # a list never read is left to its first whole read
    empty: dict[str, dict[str, list[str | None]]] = {"following": {}, "followers": {}}
    assert apply_to_graphs(empty, [follow], "1") == set() and empty["following"] == {}
