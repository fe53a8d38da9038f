"""The stand-in's token and revoke endpoints as on X, its faults, rate limits on by default, and how
``XOAuth.refresh`` tells X refusing the grant from X having a bad moment (over HTTP on loopback)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import requests

from followthrough.adapters.x import XAuthRevoked, XClientRefused, XOAuth, XRefreshUnavailable
from followthrough_devkit.xsim import XSim, XSimServer, generate_account

ANCHOR = datetime(2026, 9, 1, 12, tzinfo=UTC)
CLIENT = ("followthrough", "s3cret")


@pytest.fixture
def x() -> Iterator[tuple[XSim, XSimServer, str]]:
    sim = XSim(anchor=ANCHOR, realtime=False)
    user_id = sim.add_account(generate_account(9, "small", ANCHOR))
    sim.register_client(*CLIENT)
    with XSimServer(sim) as server:
        yield sim, server, user_id


def _oauth(server: XSimServer) -> XOAuth:
    return XOAuth(client_id=CLIENT[0], client_secret=CLIENT[1], base_url=server.base_url, timeout_s=0.5)


FAULTS: dict[str, Callable[[XSim], None]] = {
    "503": lambda sim: sim.faults.inject("oauth_token", 503),
    "500": lambda sim: sim.faults.inject("oauth_token", 500),
    "429": lambda sim: sim.faults.inject("oauth_token", 429, reset_in=300),
    "timeout": lambda sim: sim.faults.inject_slow("oauth_token", delay_s=1.5),
    "not JSON": lambda sim: sim.faults.inject_garbled("oauth_token"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_token_endpoint_fault_is_transient_and_leaves_the_refresh_token_usable(
    x: tuple[XSim, XSimServer, str], fault: str
) -> None:
    sim, server, user_id = x
    _, refresh = sim.issue_tokens(user_id)
    oauth = _oauth(server)
    FAULTS[fault](sim)
    with pytest.raises(XRefreshUnavailable) as raised:
        oauth.refresh(refresh)
    assert refresh not in str(raised.value)
    fresh = oauth.refresh(refresh)  # the grant was never touched
    assert fresh.refresh_token != refresh and sim.authenticate(fresh.access_token) is not None


def test_the_fault_answers_are_shaped_as_x_sends_them(x: tuple[XSim, XSimServer, str]) -> None:
    sim, server, _ = x
    url = f"{server.base_url}/2/oauth2/token"
    form = {"grant_type": "refresh_token", "refresh_token": "whatever"}
    sim.faults.inject("oauth_token", 503)
    unavailable = requests.post(url, data=form, auth=CLIENT, timeout=5)
    assert unavailable.status_code == 503
    assert {"title", "detail", "type"} <= set(unavailable.json())
    sim.faults.inject("oauth_token", 429, reset_in=300)
    limited = requests.post(url, data=form, auth=CLIENT, timeout=5)
    assert limited.status_code == 429 and limited.json()["title"] == "Too Many Requests"
    assert int(limited.headers["x-rate-limit-reset"]) == int(ANCHOR.timestamp()) + 300
    sim.faults.inject_garbled("oauth_token")
    garbled = requests.post(url, data=form, auth=CLIENT, timeout=5)
    assert garbled.status_code == 502 and garbled.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        garbled.json()
    sim.faults.inject_slow("oauth_token", delay_s=0.3)
    slow = requests.post(url, data=form, auth=CLIENT, timeout=5)
    assert slow.status_code == 504 and slow.elapsed.total_seconds() >= 0.3
    refused = requests.post(url, data=form, auth=CLIENT, timeout=5)  # no fault left: X's own answer
    assert refused.status_code == 400
    invalid = {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}
    assert refused.json() == invalid


def test_a_used_or_revoked_refresh_token_is_a_refusal(x: tuple[XSim, XSimServer, str]) -> None:
    sim, server, user_id = x
    oauth = _oauth(server)
    _, refresh = sim.issue_tokens(user_id)
    oauth.refresh(refresh)
    with pytest.raises(XAuthRevoked, match="400"):
        oauth.refresh(refresh)  # single use: 400 invalid_request
    _, other = sim.issue_tokens(user_id)
    sim.revoke(user_id)
    with pytest.raises(XAuthRevoked, match="400"):
        oauth.refresh(other)  # 400 invalid_grant
    wrong_secret = XOAuth(client_id=CLIENT[0], client_secret="wrong", base_url=server.base_url)
    _, third = sim.issue_tokens(user_id)
    with pytest.raises(XClientRefused, match="401"):  # the app's secret refused, not the subscriber's grant
        wrong_secret.refresh(third)
    assert oauth.refresh(third).access_token  # the grant was never touched


def test_revoke_needs_client_authentication(x: tuple[XSim, XSimServer, str]) -> None:
    sim, server, user_id = x
    access, _ = sim.issue_tokens(user_id)
    url = f"{server.base_url}/2/oauth2/revoke"
    anonymous = requests.post(url, data={"token": access, "token_type_hint": "access_token"}, timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    wrong = requests.post(url, data={"token": access}, auth=(CLIENT[0], "wrong"), timeout=5)
    assert wrong.status_code == 401
    assert sim.authenticate(access) is not None  # neither revoked anything
    assert _oauth(server).revoke(access, "access_token") is True  # Basic auth, as XOAuth sends it
    assert sim.authenticate(access) is None


def test_rate_limits_are_enforced_by_default(x: tuple[XSim, XSimServer, str]) -> None:
    sim, server, user_id = x
    access, _ = sim.issue_tokens(user_id)
    session = requests.Session()
    session.headers["authorization"] = f"Bearer {access}"
    answers = [session.get(f"{server.base_url}/2/users/me", timeout=5) for _ in range(76)]
    assert [a.status_code for a in answers] == [200] * 75 + [429]
    assert answers[-1].json()["title"] == "Too Many Requests"
    assert answers[-1].headers["x-rate-limit-remaining"] == "0"
    assert int(answers[-1].headers["x-rate-limit-reset"]) == int(ANCHOR.timestamp()) + 15 * 60
    unlimited = XSim(anchor=ANCHOR, realtime=False, enforce_rate_limits=False)
    assert unlimited.enforce_rate_limits is False and sim.enforce_rate_limits is True
