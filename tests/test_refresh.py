"""Token refresh failures told apart: X refusing the grant vs. X's token endpoint having a bad moment.

Faults are injected at the stand-in's token endpoint (HTTP on loopback); the subscriber's state is
checked after each: status, reconnect email, stored tokens, the week's run record, the requeue.
Only a refusal of the grant (400 ``invalid_request``/``invalid_grant``) logs anyone out
(x-api/.../user-access-token.mdx, steps 5 and 6). A 401 ``invalid_client`` refuses the app's own client
secret (RFC 6749 section 5.2): every subscriber alike, so nobody is logged out and the operators are alarmed.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from followthrough.messages import CollectRequest
from followthrough.pipeline.collect import CLIENT_REFUSED_METRIC, REFRESH_RETRY_S
from followthrough_devkit.demo import DemoWorld
from followthrough_devkit.xsim import XSim
from tests.support.twins import Twins
from tests.support.world import NOW, collect_request, collect_world_fixture, twin_world, twins_fixture  # noqa: F401 (fixtures)

# the stand-in world on in-memory twins, as the other collect tests have it
_request = collect_request

ACCESS_TTL_S = 2 * 60 * 60


def _stored_pair(world: DemoWorld) -> dict[str, str]:
    sid = world.subscriber.subscriber_id
    stored = world.services.repositories.tokens.get_tokens(sid)
    assert stored is not None
    pair: dict[str, str] = json.loads(world.services.cipher.decrypt(stored.ciphertext, sid))
    return pair


def _still_connected(world: DemoWorld, twins: Twins, before: dict[str, str], status: str) -> tuple[str, str]:
    """Nobody was logged out or mailed, the stored pair is untouched and the week says ``status``."""
    sid = world.subscriber.subscriber_id
    subscriber = world.services.repositories.subscribers.get_subscriber(sid)
    assert subscriber is not None and subscriber.status == "active" and subscriber.receives_digest
    assert subscriber.reconnect_email_sent_at is None and twins.mailer.sent == []
    assert _stored_pair(world) == before
    recorded = world.services.repositories.weeks.week_status(sid, "2026-W48")
    assert recorded is not None and recorded[0] == status, recorded
    return recorded


def _slow(sim: XSim) -> None:
    sim.faults.inject_slow("oauth_token", delay_s=1.5)


TRANSIENT: dict[str, Callable[[XSim], None]] = {
    "503": lambda sim: sim.faults.inject("oauth_token", 503),
    "429": lambda sim: sim.faults.inject("oauth_token", 429, reset_in=600),
    "timeout": _slow,
    "not JSON": lambda sim: sim.faults.inject_garbled("oauth_token"),
}


@pytest.mark.parametrize("fault", sorted(TRANSIENT))
def test_a_token_endpoint_failure_keeps_the_tokens_mails_nobody_and_requeues(
    world: DemoWorld, twins: Twins, fault: str
) -> None:
    world.services.token_keeper.oauth.timeout_s = 0.5  # the slow fault answers after 1.5 s
    world.sim.advance(ACCESS_TTL_S + 60)  # the stored access token has expired: the collect must refresh
    before = _stored_pair(world)
    TRANSIENT[fault](world.sim)

    result = world.services.collect.run(_request(world))

    assert result.status == "refresh_deferred", result.reason
    status = _still_connected(world, twins, before, "refresh_deferred")
    assert "tokens kept" in status[1], status
    assert before["refresh"] not in status[1] and before["access"] not in status[1]
    [requeued] = twins.queued("collect")
    assert requeued["DelaySeconds"] == REFRESH_RETRY_S
    assert twins.queued("digest") == []
    requests_before = world.sim.meter.snapshot()["tweets"]["requests"]
    assert requests_before == 0  # nothing was read with a token that may not work

    # the retry refreshes at once (the lease was given back) with the same refresh token
    again = world.services.collect.run(CollectRequest.model_validate_json(requeued["Body"]))
    assert again.status == "collected", again.reason
    assert _stored_pair(world)["refresh"] != before["refresh"]  # rotated, and the new one stored
    assert len(twins.queued("digest")) == 1


def test_repeated_token_endpoint_failures_back_off(world: DemoWorld, twins: Twins) -> None:
    world.sim.advance(ACCESS_TTL_S + 60)
    world.sim.faults.inject("oauth_token", 502, times=3)
    request = _request(world)
    delays = []
    for _ in range(3):
        assert world.services.collect.run(request).status == "refresh_deferred"
        [queued] = twins.queued("collect")
        delays.append(queued["DelaySeconds"])
        request = CollectRequest.model_validate_json(queued["Body"])
    assert delays == [REFRESH_RETRY_S, 2 * REFRESH_RETRY_S, 4 * REFRESH_RETRY_S]
    assert world.services.collect.run(request).status == "collected"


def test_a_used_refresh_token_is_a_refusal_the_subscriber_must_reconnect(world: DemoWorld, twins: Twins) -> None:
    world.sim.advance(ACCESS_TTL_S + 60)
    # another process refreshed and lost the answer: X answers 400 invalid_request to the stored token
    world.sim.refresh(world.services.settings.require("x_client_id"), _stored_pair(world)["refresh"])

    result = world.services.collect.run(_request(world))

    assert result.status == "needs_reauth", result.reason
    sid = world.subscriber.subscriber_id
    subscriber = world.services.repositories.subscribers.get_subscriber(sid)
    assert subscriber is not None and subscriber.status == "needs_reauth" and not subscriber.receives_digest
    assert [set(m.destinations) for m in twins.mailer.sent] == [{world.subscriber.email}]
    status = world.services.repositories.weeks.week_status(sid, "2026-W48")
    assert status is not None and status[0] == "needs_reauth" and "400" in status[1]
    assert twins.queued("collect") == [] and twins.queued("digest") == []


def test_a_rate_limit_on_users_me_requeues_until_the_window_resets(world: DemoWorld, twins: Twins) -> None:
    world.sim.faults.inject("users_me", 429, reset_in=420)

    result = world.services.collect.run(_request(world))

    assert result.status == "rate_limited" and 410 <= result.retry_in_s <= 420, result
    [requeued] = twins.queued("collect")
    assert 410 <= requeued["DelaySeconds"] <= 420
    assert CollectRequest.model_validate_json(requeued["Body"]).requeues == 1
    status = world.services.repositories.weeks.week_status(world.subscriber.subscriber_id, "2026-W48")
    assert status is not None and status[0] == "rate_limited" and status[1].startswith("users_me:")
    served = world.sim.meter.snapshot()
    assert all(served[e]["requests"] == 0 for e in ("tweets", "mentions", "liked_tweets", "following"))
    world.sim.advance(420)
    again = world.services.collect.run(CollectRequest.model_validate_json(requeued["Body"]))
    assert again.status == "collected", again.reason
    assert len(twins.queued("digest")) == 1


def test_a_refused_client_secret_logs_nobody_out_and_alarms(world: DemoWorld, twins: Twins) -> None:
    """The app's secret was rotated on X and not here: X answers 401 invalid_client to every refresh."""
    world.sim.advance(ACCESS_TTL_S + 60)
    before = _stored_pair(world)
    client_id = world.services.settings.require("x_client_id")
    world.sim.register_client(client_id, "the-secret-rotated-on-x")

    result = world.services.collect.run(_request(world))

    assert result.status == "client_refused", result.reason
    assert "401" in result.reason and "client secret" in result.reason
    _still_connected(world, twins, before, "client_refused")
    assert world.services.collect.metrics.metric_set[CLIENT_REFUSED_METRIC]["Value"] == [1.0]
    [requeued] = twins.queued("collect")
    assert requeued["DelaySeconds"] == REFRESH_RETRY_S

    # the operators put the current secret in place: the requeued collection goes on with the same tokens
    world.sim.register_client(client_id, world.services.settings.x_client_secret or None)
    again = world.services.collect.run(CollectRequest.model_validate_json(requeued["Body"]))
    assert again.status == "collected", again.reason
