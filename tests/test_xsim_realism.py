"""The stand-in behaves like X by default (xsim/realism.py), and each behaviour can be turned off."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from followthrough_devkit.xsim import XSim, generate_account
from followthrough_devkit.xsim.realism import Realism

ANCHOR = datetime(2026, 9, 1, 12, tzinfo=UTC)


def _world(realism: Realism | None = None, profile: str = "small", seed: int = 4) -> tuple[XSim, str, str]:
    sim = XSim(anchor=ANCHOR, realtime=False, realism=realism)
    user_id = sim.add_account(generate_account(seed, profile, ANCHOR))
    access, _ = sim.issue_tokens(user_id)
    return sim, user_id, access


def _get(sim: XSim, access: str, target: str) -> dict[str, Any]:
    response = sim.handle("GET", target, {"Authorization": f"Bearer {access}"})
    assert response.status == 200, response.body
    body: dict[str, Any] = json.loads(response.body)
    return body


def _walk(sim: XSim, access: str, path: str, size: int, extra: str = "") -> list[list[dict[str, Any]]]:
    pages, token = [], None
    while True:
        query = f"max_results={size}{extra}" + (f"&pagination_token={token}" if token else "")
        body = _get(sim, access, f"{path}?{query}")
        pages.append(body.get("data", []))
        token = body.get("meta", {}).get("next_token")
        if not token:
            return pages


def test_counts_include_accounts_the_lists_do_not_serve() -> None:
    sim, user_id, access = _world()
    account = sim.accounts[user_id]
    hidden_followees = account.unserved & set(account.follow_times)
    assert hidden_followees and account.unserved & set(account.follower_times)
    me = _get(sim, access, "/2/users/me?user.fields=public_metrics")["data"]
    assert me["public_metrics"]["following_count"] == len(account.following)
    served = {u["id"] for page in _walk(sim, access, f"/2/users/{user_id}/following", 1000) for u in page}
    assert served == set(account.follow_times) - account.unserved
    lookup = _get(sim, access, f"/2/users?ids={','.join(sorted(hidden_followees))}")
    assert "data" not in lookup and {e["resource_id"] for e in lookup["errors"]} == hidden_followees

    tidy, tidy_id, tidy_access = _world(Realism(unserved_accounts=False))
    served = {u["id"] for page in _walk(tidy, tidy_access, f"/2/users/{tidy_id}/following", 1000) for u in page}
    assert served == set(tidy.accounts[tidy_id].follow_times)


def test_connection_status_says_who_follows_back() -> None:
    sim, user_id, access = _world()
    account = sim.accounts[user_id]
    page = _walk(sim, access, f"/2/users/{user_id}/following", 1000, "&user.fields=connection_status")[0]
    for user in page:
        expected = ["following"] + (["followed_by"] if user["id"] in account.follower_times else [])
        assert user["connection_status"] == expected
    assert any("followed_by" in u["connection_status"] for u in page)
    assert "connection_status" not in _walk(sim, access, f"/2/users/{user_id}/following", 5)[0][0]
    follower_only = next(uid for uid in account.follower_times if uid not in account.follow_times)
    stranger = _get(sim, access, f"/2/users?ids={follower_only}&user.fields=connection_status")["data"][0]
    assert stranger["connection_status"] == ["followed_by"]


@pytest.mark.parametrize("path", ["following", "followers", "liked_tweets"])
def test_some_pages_are_short_and_still_carry_next_token(path: str) -> None:
    sim, user_id, access = _world()
    pages = _walk(sim, access, f"/2/users/{user_id}/{path}", 20)
    ids = [item["id"] for page in pages for item in page]
    assert len(ids) == len(set(ids))  # nothing twice, nothing lost
    assert any(len(page) < 20 for page in pages[:-1])

    tidy, tidy_id, tidy_access = _world(Realism(short_pages=False))
    tidy_pages = _walk(tidy, tidy_access, f"/2/users/{tidy_id}/{path}", 20)
    assert all(len(page) == 20 for page in tidy_pages[:-1])
    assert sorted(ids) == sorted(item["id"] for page in tidy_pages for item in page)


def test_follow_lists_are_mostly_but_not_strictly_newest_first() -> None:
    sim, user_id, access = _world(profile="typical", seed=2)
    account = sim.accounts[user_id]
    served = [u["id"] for page in _walk(sim, access, f"/2/users/{user_id}/following", 1000) for u in page]
    times = [account.follow_times[uid] for uid in served]
    out_of_order = sum(1 for a, b in itertools.pairwise(times) if a < b)
    assert 0 < out_of_order < len(served) // 10

    tidy, tidy_id, tidy_access = _world(Realism(follow_order_jitter=False), profile="typical", seed=2)
    served = [u["id"] for page in _walk(tidy, tidy_access, f"/2/users/{tidy_id}/following", 1000) for u in page]
    tidy_times = [tidy.accounts[tidy_id].follow_times[uid] for uid in served]
    assert tidy_times == sorted(tidy_times, reverse=True)


def test_the_weekly_churn_has_the_subscribers_own_unfollows() -> None:
    sim, user_id, _ = _world(profile="typical", seed=3)
    gone: list[str] = []
    for week in range(6):
        before = dict(sim.accounts[user_id].follow_times)
        delta = sim.advance_week(seed=week)[user_id]
        account = sim.accounts[user_id]
        assert all(uid in before and before[uid] < delta.start for uid in delta.unfollowed_ids)
        assert not set(delta.unfollowed_ids) & set(account.follow_times)
        assert not set(delta.unfollowed_ids) & set(account.truth.followee_interactions)  # passive ones
        assert account.me.public_metrics is not None
        assert account.me.public_metrics.following_count == len(account.following)
        gone += delta.unfollowed_ids
    assert gone

    tidy, tidy_id, _ = _world(Realism(own_unfollows=False), profile="typical", seed=3)
    assert not any(tidy.advance_week(seed=week)[tidy_id].unfollowed_ids for week in range(6))
