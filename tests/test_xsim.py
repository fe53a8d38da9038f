"""The X stand-in over HTTP: paging, fields, expansions, shapes, faults, OAuth, meter, and tweepy against it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import tweepy
from requests.adapters import HTTPAdapter

from followthrough.xmodels import XDmEvent, XPage, XTweet, XUser, XUserResponse
from followthrough_devkit.xsim import SyntheticAccount, XSim, XSimServer, advance_week, generate_account, pkce_challenge
from followthrough_devkit.xsim import api as xsim_api
from followthrough_devkit.xsim.sim import footprint
from tests.support.samples import SAMPLES

ANCHOR = datetime(2026, 9, 1, 12, tzinfo=UTC)
TWEET_FIELDS = "created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets,entities,public_metrics"


@pytest.fixture(scope="module")
def demo() -> SyntheticAccount:
    return generate_account(7, "demo", ANCHOR)


@pytest.fixture(scope="module")
def world(demo: SyntheticAccount) -> Iterator[tuple[XSim, XSimServer, str]]:
    """A read-mostly world shared by the module: the demo account plus a small second one."""
    sim = XSim(anchor=ANCHOR, realtime=False)
    user_id = sim.add_account(demo)
    sim.add_account(generate_account(8, "small", ANCHOR))
    with XSimServer(sim) as server:
        yield sim, server, user_id


@pytest.fixture
def sim(world: tuple[XSim, XSimServer, str]) -> Iterator[XSim]:
    shared = world[0]
    shared.meter.reset()
    yield shared
    shared.faults.clear()
    shared.meter.reset()


@pytest.fixture
def base_url(world: tuple[XSim, XSimServer, str]) -> str:
    return world[1].base_url


@pytest.fixture
def user_id(world: tuple[XSim, XSimServer, str]) -> str:
    return world[2]


@pytest.fixture
def http(sim: XSim, user_id: str) -> requests.Session:
    access, _ = sim.issue_tokens(user_id)
    session = requests.Session()
    session.headers["authorization"] = f"Bearer {access}"
    return session


@pytest.fixture
def fresh() -> Iterator[tuple[XSim, XSimServer, SyntheticAccount]]:
    """A world of its own, for tests that move the clock, revoke tokens or change the data."""
    account = generate_account(9, "small", ANCHOR)
    sim = XSim(anchor=ANCHOR, realtime=False)
    sim.add_account(account)
    with XSimServer(sim) as server:
        yield sim, server, account


def get(url: str, timeout: float = 10, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=timeout, **kwargs)


def post(url: str, timeout: float = 10, **kwargs: Any) -> requests.Response:
    return requests.post(url, timeout=timeout, **kwargs)


def walk(session: requests.Session, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of a list endpoint, following next_token."""
    pages = []
    token = None
    while True:
        query = {**params, **({"pagination_token": token} if token else {})}
        response = session.get(url, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        token = body["meta"].get("next_token")
        if not token:
            return pages


def ids(pages: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for page in pages for item in page.get("data", [])]


def sample(name: str) -> list[dict[str, Any]]:
    records = json.loads((SAMPLES / name).read_text())
    for record in records:
        body = record["response"]["body"]
        record["response"]["body"] = json.loads(body) if isinstance(body, str) else body
    return records


class RewriteToStandIn(HTTPAdapter):
    """tweepy hard-codes https://api.twitter.com; send its requests to the stand-in instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request.url = (request.url or "").replace("https://api.twitter.com", self.base_url, 1)
        request.url = request.url.replace("https://twitter.com", self.base_url, 1)
        return super().send(request, *args, **kwargs)


def tweepy_client(base_url: str, access: str) -> tweepy.Client:
    client = tweepy.Client(bearer_token=access)
    client.session.mount("https://api.twitter.com", RewriteToStandIn(base_url))
    return client


# ----- paging -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "page_size"),
    [("tweets", 100), ("liked_tweets", 100), ("following", 100), ("followers", 250)],
)
def test_pagination_walks_every_item_exactly_once(
    sim: XSim,
    http: requests.Session,
    base_url: str,
    user_id: str,
    demo: SyntheticAccount,
    endpoint: str,
    page_size: int,
) -> None:
    expected = {
        "tweets": [t.id for t in demo.posts],
        "liked_tweets": [t.id for t in demo.likes],
        "following": [u.id for u in demo.following],
        "followers": [u.id for u in demo.followers],
    }[endpoint]
    pages = walk(http, f"{base_url}/2/users/{user_id}/{endpoint}", {"max_results": page_size})
    assert ids(pages) == expected
    assert all(len(p["data"]) == p["meta"]["result_count"] for p in pages)
    assert "next_token" not in pages[-1]["meta"]
    snapshot = sim.meter.snapshot()[endpoint]
    assert snapshot == {
        "requests": math.ceil(len(expected) / page_size),
        "resources": len(expected),
        "resource_ids_returned_twice": 0,
    }
    assert sim.meter.duplicates(endpoint) == 0


def test_mentions_reach_only_the_newest_800(
    http: requests.Session, base_url: str, user_id: str, demo: SyntheticAccount
) -> None:
    assert len(demo.mentions) > 800
    pages = walk(http, f"{base_url}/2/users/{user_id}/mentions", {"max_results": 100})
    assert ids(pages) == [m.id for m in demo.mentions[:800]]
    first = pages[0]["meta"]
    assert first["newest_id"] == demo.mentions[0].id and first["oldest_id"] == demo.mentions[99].id


def test_posts_reach_limit(
    monkeypatch: pytest.MonkeyPatch, http: requests.Session, base_url: str, user_id: str, demo: SyntheticAccount
) -> None:
    monkeypatch.setitem(xsim_api.REACH, "tweets", 120)  # the real 3,200 needs the large profile
    pages = walk(http, f"{base_url}/2/users/{user_id}/tweets", {"max_results": 100})
    assert ids(pages) == [t.id for t in demo.posts[:120]]


def test_dm_events_are_the_last_30_days_newest_first(
    sim: XSim, http: requests.Session, base_url: str, demo: SyntheticAccount
) -> None:
    pages = walk(http, f"{base_url}/2/dm_events", {"max_results": 40, "dm_event.fields": "created_at"})
    cutoff = sim.now() - timedelta(days=30)
    expected = [e.id for e in demo.dm_events if e.created_at and e.created_at >= cutoff]
    assert ids(pages) == expected
    assert len(expected) < len(demo.dm_events)  # older events exist but X no longer serves them
    only_joins = http.get(
        f"{base_url}/2/dm_events", params={"event_types": "ParticipantsJoin", "dm_event.fields": "participant_ids"}
    ).json()
    assert {e["event_type"] for e in only_joins["data"]} == {"ParticipantsJoin"}
    assert all(e["participant_ids"] for e in only_joins["data"])


def test_cursor_survives_new_items_arriving_between_pages(fresh: tuple[XSim, XSimServer, SyntheticAccount]) -> None:
    sim, server, account = fresh
    access, _ = sim.issue_tokens(account.user_id)
    session = requests.Session()
    session.headers["authorization"] = f"Bearer {access}"
    url = f"{server.base_url}/2/users/{account.user_id}/followers"
    first = session.get(url, params={"max_results": 50}).json()
    old_order = [u.id for u in account.followers]
    delta = sim.advance_week(seed=4)[account.user_id]
    assert delta.new_follower_ids
    access, _ = sim.issue_tokens(account.user_id)  # a week later the old access token has expired
    session.headers["authorization"] = f"Bearer {access}"
    rest = walk(session, url, {"max_results": 50, "pagination_token": first["meta"]["next_token"]})
    seen = ids([first, *rest])
    assert len(seen) == len(set(seen))
    lost = set(delta.lost_follower_ids)
    assert seen == old_order[:50] + [uid for uid in old_order[50:] if uid not in lost]
    assert sim.meter.duplicates("followers") == 0


def test_since_until_and_time_windows(
    http: requests.Session, base_url: str, user_id: str, demo: SyntheticAccount
) -> None:
    url = f"{base_url}/2/users/{user_id}/tweets"
    newer = http.get(url, params={"since_id": demo.posts[12].id, "max_results": 100}).json()
    assert ids([newer]) == [t.id for t in demo.posts[:12]]
    assert newer["meta"]["newest_id"] == demo.posts[0].id and newer["meta"]["oldest_id"] == demo.posts[11].id
    older = http.get(url, params={"until_id": demo.posts[5].id, "max_results": 5}).json()
    assert ids([older]) == [t.id for t in demo.posts[6:11]]
    start = demo.posts[30].created_at
    end = demo.posts[20].created_at
    assert start and end
    windowed = http.get(
        url,
        params={
            "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_time": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "max_results": 100,
        },
    ).json()
    assert ids([windowed]) == [t.id for t in demo.posts[21:31]]
    mentions = http.get(f"{base_url}/2/users/{user_id}/mentions", params={"since_id": demo.mentions[3].id}).json()
    assert ids([mentions]) == [m.id for m in demo.mentions[:3]]
    no_retweets = http.get(
        url, params={"exclude": "retweets,replies", "max_results": 100, "tweet.fields": "referenced_tweets"}
    ).json()
    assert all(r["type"] == "quoted" for t in no_retweets["data"] for r in t.get("referenced_tweets", []))


def test_empty_pages_have_the_exact_empty_shape(fresh: tuple[XSim, XSimServer, SyntheticAccount]) -> None:
    sim, server, account = fresh
    access, _ = sim.issue_tokens(account.user_id)
    headers = {"authorization": f"Bearer {access}"}
    url = f"{server.base_url}/2/users/{account.user_id}"
    newest = get(f"{url}/tweets", params={"since_id": account.posts[0].id, "expansions": "author_id"}, headers=headers)
    assert newest.status_code == 200 and newest.json() == {"meta": {"result_count": 0}}
    mentions = get(f"{url}/mentions", params={"since_id": account.mentions[0].id}, headers=headers)
    assert mentions.json() == {"meta": {"result_count": 0}}
    sim.advance(timedelta(days=45))
    access, _ = sim.issue_tokens(account.user_id)
    dms = get(f"{server.base_url}/2/dm_events", headers={"authorization": f"Bearer {access}"})
    assert dms.json() == {"meta": {"result_count": 0}}
    assert XPage[XDmEvent].model_validate(dms.json()).data == []


# ----- fields, expansions and shapes --------------------------------------------------------


def test_default_fields_only_unless_asked(http: requests.Session, base_url: str, user_id: str) -> None:
    tweets = http.get(f"{base_url}/2/users/{user_id}/tweets").json()
    assert len(tweets["data"]) == 10  # X's default page size for timelines
    assert {frozenset(t) for t in tweets["data"]} == {frozenset({"id", "text", "edit_history_tweet_ids"})}
    users = http.get(f"{base_url}/2/users/{user_id}/following", params={"max_results": 5}).json()
    assert {frozenset(u) for u in users["data"]} == {frozenset({"id", "name", "username"})}
    dms = http.get(f"{base_url}/2/dm_events", params={"max_results": 5}).json()
    assert {frozenset(e) for e in dms["data"]} <= {
        frozenset({"id", "event_type", "text"}),
        frozenset({"id", "event_type"}),
    }
    me = http.get(f"{base_url}/2/users/me").json()
    assert set(me["data"]) == {"id", "name", "username"} and me["data"]["id"] == user_id
    asked = http.get(
        f"{base_url}/2/users/{user_id}/tweets", params={"tweet.fields": "created_at,author_id", "max_results": 5}
    ).json()
    assert {frozenset(t) for t in asked["data"]} == {
        frozenset({"id", "text", "edit_history_tweet_ids", "created_at", "author_id"})
    }
    full_me = http.get(f"{base_url}/2/users/me", params={"user.fields": "public_metrics,created_at"}).json()
    assert set(full_me["data"]["public_metrics"]) >= {"followers_count", "following_count", "tweet_count"}


def test_expansions_fill_includes(http: requests.Session, base_url: str, user_id: str, demo: SyntheticAccount) -> None:
    body = http.get(
        f"{base_url}/2/users/{user_id}/tweets",
        params={
            "max_results": 100,
            "tweet.fields": TWEET_FIELDS,
            "user.fields": "created_at",
            "expansions": "author_id,referenced_tweets.id,referenced_tweets.id.author_id,in_reply_to_user_id,"
            "entities.mentions.username",
        },
    ).json()
    page = XPage[XTweet].model_validate(body)
    referenced = {r.id for t in page.data for r in t.referenced_tweets}
    assert referenced and {t.id for t in page.includes.tweets} == referenced
    wanted_users = {user_id}
    wanted_users |= {t.author_id for t in page.includes.tweets if t.author_id}
    wanted_users |= {t.in_reply_to_user_id for t in page.data if t.in_reply_to_user_id}
    wanted_users |= {m.id for t in page.data if t.entities for m in t.entities.mentions if m.id}
    assert {u.id for u in page.includes.users} == wanted_users
    assert all(u.created_at is not None for u in page.includes.users)
    assert all("created_at" in t for t in body["includes"]["tweets"])  # tweet.fields apply to includes too
    dms = http.get(f"{base_url}/2/dm_events", params={"expansions": "sender_id", "dm_event.fields": "sender_id"}).json()
    assert {u["id"] for u in dms["includes"]["users"]} == {e["sender_id"] for e in dms["data"]}


def test_served_objects_parse_and_match_the_account(
    http: requests.Session, base_url: str, user_id: str, demo: SyntheticAccount
) -> None:
    posts = XPage[XTweet].model_validate(
        http.get(
            f"{base_url}/2/users/{user_id}/tweets", params={"max_results": 50, "tweet.fields": TWEET_FIELDS}
        ).json()
    )
    for served, original in zip(posts.data, demo.posts, strict=False):
        assert served.model_dump(exclude={"public_metrics"}) == original.model_dump(exclude={"public_metrics"})
    mentions = XPage[XTweet].model_validate(
        http.get(f"{base_url}/2/users/{user_id}/mentions", params={"tweet.fields": TWEET_FIELDS}).json()
    )
    assert [m.model_dump(exclude={"public_metrics"}) for m in mentions.data] == [
        m.model_dump(exclude={"public_metrics"}) for m in demo.mentions[:10]
    ]
    liked = XPage[XTweet].model_validate(
        http.get(f"{base_url}/2/users/{user_id}/liked_tweets", params={"tweet.fields": "author_id"}).json()
    )
    assert [(t.id, t.author_id) for t in liked.data] == [(t.id, t.author_id) for t in demo.likes[:100]]
    followers = XPage[XUser].model_validate(
        http.get(
            f"{base_url}/2/users/{user_id}/followers",
            params={"user.fields": "created_at,description,protected,public_metrics"},
        ).json()
    )
    # not asked for: the planted quiet followees' latest posts stay out
    unasked = {"most_recent_tweet_id"}
    assert [u.model_dump() for u in followers.data] == [
        u.model_dump(exclude=unasked) | {"most_recent_tweet_id": None} for u in demo.followers[:100]
    ]
    dms = XPage[XDmEvent].model_validate(
        http.get(
            f"{base_url}/2/dm_events",
            params={"dm_event.fields": "created_at,sender_id,dm_conversation_id,participant_ids"},
        ).json()
    )
    assert dms.data and all(e.sender_id and e.dm_conversation_id and e.created_at for e in dms.data)
    me = XUserResponse.model_validate(
        http.get(f"{base_url}/2/users/me", params={"user.fields": "public_metrics"}).json()
    )
    assert me.data.public_metrics == demo.me.public_metrics


def test_entity_offsets_point_into_the_text(http: requests.Session, base_url: str, user_id: str) -> None:
    body = http.get(
        f"{base_url}/2/users/{user_id}/tweets", params={"max_results": 100, "tweet.fields": "entities"}
    ).json()
    checked = 0
    for tweet in body["data"]:
        entities = tweet.get("entities", {})
        for mention in entities.get("mentions", []):
            assert tweet["text"][mention["start"] : mention["end"]].lower() == "@" + mention["username"].lower()
            checked += 1
        for url in entities.get("urls", []):
            assert tweet["text"][url["start"] : url["end"]] == url["url"]
            checked += 1
        for tag in entities.get("hashtags", []):
            assert tweet["text"][tag["start"] : tag["end"]] == "#" + tag["tag"]
    assert checked > 20


@pytest.mark.parametrize(
    ("sample_file", "path", "params"),
    [
        ("get_users_tweets.json", "/2/users/{id}/tweets", {"max_results": 5}),
        ("get_users_mentions.json", "/2/users/{id}/mentions", {"max_results": 10}),
        ("get_liked_tweets.json", "/2/users/{id}/liked_tweets", {"max_results": 10}),
        ("get_users_followers.json", "/2/users/{id}/followers", {"max_results": 100}),
        ("get_users_following.json", "/2/users/{id}/following", {"max_results": 1000}),
        ("get_me.json", "/2/users/me", {}),
    ],
)
def test_shapes_agree_with_recorded_samples(
    http: requests.Session, base_url: str, user_id: str, sample_file: str, path: str, params: dict[str, Any]
) -> None:
    recorded = sample(sample_file)[0]["response"]
    served = http.get(base_url + path.format(id=user_id), params=params)
    body = served.json()
    want = recorded["body"]
    assert set(body) == set(want)
    data, want_data = body["data"], want["data"]
    if isinstance(want_data, list):
        assert {frozenset(item) for item in data} == {frozenset(item) for item in want_data}
        assert set(body["meta"]) == set(want["meta"])
    else:
        assert set(data) == set(want_data)
    for header in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
        assert header in recorded["headers"]
        assert served.headers[header].isdigit()
    assert served.headers["content-type"] == recorded["headers"]["content-type"][0]


def test_dm_shapes_agree_with_recorded_samples(
    fresh: tuple[XSim, XSimServer, SyntheticAccount], http: requests.Session, base_url: str
) -> None:
    records = {r["request"]["uri"]: r["response"]["body"] for r in sample("dm_events.json")}
    conversation = records["https://api.twitter.com/2/dm_conversations/with/750362064426721281/dm_events"]
    served = http.get(f"{base_url}/2/dm_events", params={"max_results": 2}).json()
    assert {frozenset(e) for e in served["data"]} == {frozenset(e) for e in conversation["data"]}
    assert set(served["meta"]) <= set(conversation["meta"])
    sim, server, account = fresh
    sim.advance(timedelta(days=60))
    access, _ = sim.issue_tokens(account.user_id)
    empty = get(f"{server.base_url}/2/dm_events", headers={"authorization": f"Bearer {access}"}).json()
    assert empty == records["https://api.twitter.com/2/dm_events"]


def test_users_lookup(http: requests.Session, base_url: str, demo: SyntheticAccount) -> None:
    wanted = [demo.following[0].id, demo.followers[3].id, "12345"]
    body = http.get(f"{base_url}/2/users", params={"ids": ",".join(wanted), "user.fields": "public_metrics"}).json()
    page = XPage[XUser].model_validate(body)
    assert [u.id for u in page.data] == wanted[:2]
    assert page.data[0].public_metrics == demo.following[0].public_metrics
    assert body["errors"][0]["resource_id"] == "12345"


# ----- validation and errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "bad"),
    [
        ("/2/users/{id}/tweets", {"max_results": 101}, "max_results"),
        ("/2/users/{id}/tweets", {"max_results": 4}, "max_results"),
        ("/2/users/{id}/mentions", {"max_results": 0}, "max_results"),
        ("/2/users/{id}/liked_tweets", {"max_results": 200}, "max_results"),
        ("/2/users/{id}/following", {"max_results": 1001}, "max_results"),
        ("/2/users/{id}/followers", {"max_results": 0}, "max_results"),
        ("/2/dm_events", {"max_results": 101}, "max_results"),
        ("/2/users/{id}/tweets", {"tweet.fields": "created_at,colour"}, "tweet.fields"),
        ("/2/users/{id}/tweets", {"since_id": "abc"}, "since_id"),
        ("/2/users/{id}/tweets", {"pagination_token": "not-a-token"}, "pagination_token"),
        ("/2/users/{id}/liked_tweets", {"since_id": "1"}, "since_id"),
        ("/2/users/{id}/followers", {"expansions": "author_id"}, "expansions"),
    ],
)
def test_invalid_requests_get_xs_problem(
    http: requests.Session, base_url: str, user_id: str, path: str, params: dict[str, Any], bad: str
) -> None:
    response = http.get(base_url + path.format(id=user_id), params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Invalid Request"
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert bad in body["errors"][0]["parameters"]


def test_page_size_bounds_are_accepted(http: requests.Session, base_url: str, user_id: str) -> None:
    for path, size, expected in (
        ("tweets", 5, 5),
        ("tweets", 100, 100),
        ("following", 1, 1),
        ("following", 1000, 520),
        ("dm_events", 1, 1),
        ("dm_events", 100, 100),
    ):
        response = http.get(
            f"{base_url}/2/users/{user_id}/{path}" if path != "dm_events" else f"{base_url}/2/{path}",
            params={"max_results": size},
        )
        assert response.status_code == 200
        assert response.json()["meta"]["result_count"] == expected


def test_token_from_another_endpoint_is_rejected(http: requests.Session, base_url: str, user_id: str) -> None:
    token = http.get(f"{base_url}/2/users/{user_id}/followers", params={"max_results": 5}).json()["meta"]["next_token"]
    response = http.get(f"{base_url}/2/users/{user_id}/following", params={"pagination_token": token})
    assert response.status_code == 400


def test_unauthorized_requests(fresh: tuple[XSim, XSimServer, SyntheticAccount]) -> None:
    sim, server, account = fresh
    me = f"{server.base_url}/2/users/me"
    assert get(me).status_code == 401
    unknown = get(me, headers={"authorization": "Bearer nope"})
    assert unknown.status_code == 401 and unknown.json()["title"] == "Unauthorized"
    access, refresh = sim.issue_tokens(account.user_id)
    assert get(me, headers={"authorization": f"Bearer {access}"}).status_code == 200
    sim.advance(timedelta(hours=2, seconds=1))
    assert get(me, headers={"authorization": f"Bearer {access}"}).status_code == 401
    access, refresh = sim.issue_tokens(account.user_id)
    sim.revoke(account.user_id)
    revoked = get(me, headers={"authorization": f"Bearer {access}"})
    assert revoked.status_code == 401
    assert "x-rate-limit-remaining" in revoked.headers
    refused = post(
        f"{server.base_url}/2/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "app"},
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_missing_scope_is_forbidden(fresh: tuple[XSim, XSimServer, SyntheticAccount]) -> None:
    sim, server, account = fresh
    access, _ = sim.issue_tokens(account.user_id, scopes=("tweet.read", "users.read"))
    headers = {"authorization": f"Bearer {access}"}
    assert get(f"{server.base_url}/2/dm_events", headers=headers).status_code == 403
    assert get(f"{server.base_url}/2/users/me", headers=headers).status_code == 200


# ----- faults ------------------------------------------------------------------------------


def test_injected_429_after_some_successes(sim: XSim, http: requests.Session, base_url: str, user_id: str) -> None:
    url = f"{base_url}/2/users/{user_id}/mentions"
    sim.faults.inject("mentions", 429, times=2, after=1, reset_in=30)
    statuses = [http.get(url) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 429, 429, 200]
    limited = statuses[1]
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert int(limited.headers["x-rate-limit-reset"]) == int((sim.now() + timedelta(seconds=30)).timestamp())
    assert limited.json()["title"] == "Too Many Requests"
    assert sim.meter.snapshot()["mentions"]["requests"] == 4
    assert sim.faults.pending("mentions") == 0


@pytest.mark.parametrize(
    ("status", "title"), [(401, "Unauthorized"), (402, "CreditsDepleted"), (503, "Service Unavailable")]
)
def test_injected_statuses_have_xs_bodies(
    sim: XSim, http: requests.Session, base_url: str, user_id: str, status: int, title: str
) -> None:
    sim.faults.inject("followers", status)
    failed = http.get(f"{base_url}/2/users/{user_id}/followers")
    assert failed.status_code == status
    assert failed.json()["title"] == title
    if status == 402:
        assert "does not have any credits" in failed.json()["detail"]
    assert http.get(f"{base_url}/2/users/{user_id}/followers").status_code == 200


def test_tweepy_sees_injected_faults_as_xs_errors(sim: XSim, base_url: str, user_id: str) -> None:
    access, _ = sim.issue_tokens(user_id)
    client = tweepy_client(base_url, access)
    sim.faults.inject("tweets", 429, reset_in=90)
    with pytest.raises(tweepy.TooManyRequests) as limited:
        client.get_users_tweets(user_id)
    assert int(limited.value.response.headers["x-rate-limit-reset"]) == int(
        (sim.now() + timedelta(seconds=90)).timestamp()
    )
    sim.faults.inject("tweets", 402)
    with pytest.raises(tweepy.HTTPException) as depleted:
        client.get_users_tweets(user_id)
    assert depleted.value.response.status_code == 402
    sim.faults.inject("tweets", 503)
    with pytest.raises(tweepy.TwitterServerError):
        client.get_users_tweets(user_id)
    sim.faults.inject("users_me", 401)
    with pytest.raises(tweepy.Unauthorized):
        client.get_me(user_auth=False)


def test_random_faults_are_seeded(fresh: tuple[XSim, XSimServer, SyntheticAccount]) -> None:
    sim, server, account = fresh
    access, _ = sim.issue_tokens(account.user_id)
    session = requests.Session()
    session.headers["authorization"] = f"Bearer {access}"
    url = f"{server.base_url}/2/users/{account.user_id}/tweets"

    def run() -> list[str]:
        sim.faults.random(rate=0.3, seed=5, truncate_rate=0.25)
        outcomes = []
        for _ in range(40):
            response = session.get(url, params={"max_results": 20})
            if response.status_code != 200:
                outcomes.append(str(response.status_code))
                continue
            try:
                response.json()
                outcomes.append("ok")
            except requests.exceptions.JSONDecodeError:
                outcomes.append("truncated")
        return outcomes

    first = run()
    assert run() == first
    assert {"429", "503", "truncated", "ok"} <= set(first)
    sim.faults.clear()
    assert session.get(url).status_code == 200
    with pytest.raises(ValueError, match="unknown endpoint"):
        sim.faults.inject("timeline", 503)


def test_slowed_responses(fresh: tuple[XSim, XSimServer, SyntheticAccount]) -> None:
    sim, server, account = fresh
    access, _ = sim.issue_tokens(account.user_id)
    sim.faults.random(rate=1.0, statuses=(), delay_s=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(f"{server.base_url}/2/users/me", headers={"authorization": f"Bearer {access}"}, timeout=0.1)


# ----- rate limits ------------------------------------------------------------------------------


def test_rate_limit_headers_count_down_and_enforcement() -> None:
    account = generate_account(10, "small", ANCHOR)
    sim = XSim(anchor=ANCHOR, realtime=False, enforce_rate_limits=True)
    sim.add_account(account)
    access, _ = sim.issue_tokens(account.user_id)
    with XSimServer(sim) as server:
        session = requests.Session()
        session.headers["authorization"] = f"Bearer {access}"
        url = f"{server.base_url}/2/dm_events"
        responses = [session.get(url, params={"max_results": 1}) for _ in range(16)]
        assert [r.headers["x-rate-limit-limit"] for r in responses] == ["15"] * 16
        assert [int(r.headers["x-rate-limit-remaining"]) for r in responses[:15]] == list(range(14, -1, -1))
        assert [r.status_code for r in responses] == [200] * 15 + [429]
        reset = int(responses[-1].headers["x-rate-limit-reset"])
        assert reset == int((ANCHOR + timedelta(minutes=15)).timestamp())
        # another endpoint has its own window
        assert session.get(f"{server.base_url}/2/users/me").status_code == 200
        sim.advance(timedelta(minutes=15))
        again = session.get(url, params={"max_results": 1})
        assert again.status_code == 200 and again.headers["x-rate-limit-remaining"] == "14"


# ----- OAuth 2.0 ------------------------------------------------------------------------------------


def _authorize(server: XSimServer, verifier: str, redirect: str = "https://app.example/callback") -> str:
    params = {
        "response_type": "code",
        "client_id": "followthrough",
        "redirect_uri": redirect,
        "scope": "tweet.read users.read follows.read like.read dm.read offline.access",
        "state": "st4te",
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    page = get(f"{server.base_url}/i/oauth2/authorize", params=params)
    assert page.status_code == 200
    assert "<title>Authorize app</title>" in page.text
    assert "dm.read" in page.text and "offline.access" in page.text
    assert '<select name="user_id"' in page.text and ">Authorize app</button>" in page.text
    first_option = page.text.split("<option ", 1)[1]
    assert first_option.split(">", 1)[0].endswith("selected")
    user_id = first_option.split('value="', 1)[1].split('"', 1)[0]
    approved = post(f"{server.base_url}/i/oauth2/authorize", data={**params, "user_id": user_id}, allow_redirects=False)
    assert approved.status_code == 302
    location = approved.headers["location"]
    assert location.startswith(redirect + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st4te"]
    return query["code"][0]


def test_oauth_code_flow_with_pkce_and_refresh_rotation(fresh: tuple[XSim, XSimServer, SyntheticAccount]) -> None:
    sim, server, account = fresh
    sim.register_client("followthrough", "s3cret")
    token_url = f"{server.base_url}/2/oauth2/token"
    basic = ("followthrough", "s3cret")
    verifier = "v" * 50
    code = _authorize(server, verifier)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "https://app.example/callback",
        "code_verifier": verifier,
    }
    assert post(token_url, data=form, auth=("followthrough", "wrong")).status_code == 401
    issued = post(token_url, data=form, auth=basic)
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 7200
    assert set(tokens["scope"].split()) == {
        "tweet.read",
        "users.read",
        "follows.read",
        "like.read",
        "dm.read",
        "offline.access",
    }
    me = get(f"{server.base_url}/2/users/me", headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["data"]["id"] == account.user_id
    # the code is single use
    assert post(token_url, data=form, auth=basic).json()["error"] == "invalid_request"
    # refresh tokens rotate; the old one is dead
    refreshed = post(
        token_url, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, auth=basic
    ).json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    reused = post(token_url, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, auth=basic)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_request"
    again = post(
        token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed["refresh_token"],
            "client_id": "followthrough",
            "client_secret": "s3cret",
        },
    )
    assert again.status_code == 200
    assert sim.meter.snapshot()["oauth_token"]["requests"] == 6


def test_oauth_code_checks(fresh: tuple[XSim, XSimServer, SyntheticAccount]) -> None:
    sim, server, _ = fresh
    token_url = f"{server.base_url}/2/oauth2/token"
    base = {
        "grant_type": "authorization_code",
        "redirect_uri": "https://app.example/callback",
        "client_id": "followthrough",
    }
    wrong_verifier = post(token_url, data={**base, "code": _authorize(server, "a" * 43), "code_verifier": "b" * 43})
    assert wrong_verifier.status_code == 400
    wrong_redirect = post(
        token_url,
        data={
            **base,
            "code": _authorize(server, "a" * 43),
            "code_verifier": "a" * 43,
            "redirect_uri": "https://evil.example/",
        },
    )
    assert wrong_redirect.status_code == 400
    late = _authorize(server, "c" * 43)
    sim.advance(31)
    assert post(token_url, data={**base, "code": late, "code_verifier": "c" * 43}).status_code == 400
    denied = post(
        f"{server.base_url}/i/oauth2/authorize",
        allow_redirects=False,
        data={
            "response_type": "code",
            "client_id": "followthrough",
            "redirect_uri": "https://app.example/callback",
            "scope": "tweet.read",
            "state": "s",
            "code_challenge": "x",
            "code_challenge_method": "S256",
            "decision": "deny",
        },
    )
    assert "error=access_denied" in denied.headers["location"]
    bad_page = get(f"{server.base_url}/i/oauth2/authorize", params={"response_type": "token"})
    assert bad_page.status_code == 400


def test_tweepy_oauth2_handler_against_the_stand_in(fresh: tuple[XSim, XSimServer, SyntheticAccount]) -> None:
    _, server, account = fresh
    handler = tweepy.OAuth2UserHandler(
        client_id="followthrough",
        redirect_uri="https://app.example/callback",
        scope=["tweet.read", "users.read", "follows.read", "like.read", "dm.read", "offline.access"],
        client_secret="s3cret",
    )
    handler.mount("https://", RewriteToStandIn(server.base_url))
    url = handler.get_authorization_url()
    local = url.replace("https://twitter.com", server.base_url, 1)
    params = {k: v[0] for k, v in parse_qs(urlsplit(local).query).items()}
    approved = post(
        f"{server.base_url}/i/oauth2/authorize", data={**params, "user_id": account.user_id}, allow_redirects=False
    )
    token = handler.fetch_token(approved.headers["location"])
    assert token["token_type"] == "bearer" and token["refresh_token"]
    client = tweepy_client(server.base_url, token["access_token"])
    assert str(client.get_me(user_auth=False).data.id) == account.user_id
    renewed = handler.refresh_token(
        "https://api.twitter.com/2/oauth2/token",
        refresh_token=token["refresh_token"],
        auth=requests.auth.HTTPBasicAuth("followthrough", "s3cret"),
    )
    assert renewed["access_token"] != token["access_token"]


# ----- tweepy end to end ---------------------------------------------------------------------------


def test_tweepy_client_reads_everything(sim: XSim, base_url: str, user_id: str, demo: SyntheticAccount) -> None:
    access, _ = sim.issue_tokens(user_id)
    client = tweepy_client(base_url, access)
    me = client.get_me(user_auth=False, user_fields=["public_metrics"])
    assert str(me.data.id) == user_id and me.data.public_metrics["following_count"] == len(demo.following)
    posts = [
        t
        for page in tweepy.Paginator(
            client.get_users_tweets,
            user_id,
            max_results=100,
            tweet_fields=["created_at", "referenced_tweets"],
            expansions=["referenced_tweets.id.author_id"],
        )
        for t in page.data or []
    ]
    assert [t.id for t in posts] == [int(t.id) for t in demo.posts]
    assert posts[0].created_at == demo.posts[0].created_at
    following = [
        u for page in tweepy.Paginator(client.get_users_following, user_id, max_results=1000) for u in page.data or []
    ]
    assert [str(u.id) for u in following] == [u.id for u in demo.following]
    dms = client.get_direct_message_events(
        user_auth=False, max_results=100, dm_event_fields=["sender_id", "dm_conversation_id", "created_at"]
    )
    assert dms.data and all(e.sender_id for e in dms.data)
    mentions = client.get_users_mentions(user_id, since_id=demo.mentions[5].id)
    assert [str(t.id) for t in mentions.data] == [m.id for m in demo.mentions[:5]]
    assert client.get_users_mentions(user_id, since_id=demo.mentions[0].id).data is None
    snapshot = sim.meter.snapshot()
    assert snapshot["tweets"]["resource_ids_returned_twice"] == 0
    assert snapshot["following"]["resources"] == len(demo.following)


# ----- meter, clock, concurrency, CLI ------------------------------------------------------------------


def test_meter_counts_and_detects_resources_served_twice(
    sim: XSim, http: requests.Session, base_url: str, user_id: str
) -> None:
    url = f"{base_url}/2/users/{user_id}/mentions"
    http.get(url, params={"max_results": 20, "expansions": "author_id"})
    first = sim.meter.snapshot()["mentions"]
    assert first["requests"] == 1 and first["resources"] > 20  # includes.users count as resources too
    assert sim.meter.duplicates("mentions") == 0
    http.get(url, params={"max_results": 20})
    assert sim.meter.duplicates("mentions") == 20
    assert sim.meter.snapshot()["mentions"]["resource_ids_returned_twice"] == 20
    sim.meter.reset()
    assert sim.meter.snapshot()["mentions"] == {"requests": 0, "resources": 0, "resource_ids_returned_twice": 0}


def test_advanced_week_is_served_incrementally(fresh: tuple[XSim, XSimServer, SyntheticAccount]) -> None:
    sim, server, account = fresh
    newest_before = account.posts[0].id
    delta = sim.advance_week(seed=2)[account.user_id]
    assert sim.now() == ANCHOR + timedelta(days=7)
    access, _ = sim.issue_tokens(account.user_id)
    session = requests.Session()
    session.headers["authorization"] = f"Bearer {access}"
    new_posts = walk(
        session, f"{server.base_url}/2/users/{account.user_id}/tweets", {"since_id": newest_before, "max_results": 100}
    )
    assert ids(new_posts) == delta.post_ids
    me = session.get(f"{server.base_url}/2/users/me", params={"user.fields": "public_metrics"}).json()["data"]
    followers = walk(session, f"{server.base_url}/2/users/{account.user_id}/followers", {"max_results": 1000})
    assert me["public_metrics"]["followers_count"] == len(ids(followers))
    assert ids(followers)[: len(delta.new_follower_ids)] == delta.new_follower_ids


def test_concurrent_requests(sim: XSim, http: requests.Session, base_url: str, user_id: str) -> None:
    headers = dict(http.headers)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda i: (
                    get(
                        f"{base_url}/2/users/{user_id}/followers", headers=headers, params={"max_results": 10 + i}
                    ).status_code
                ),
                range(24),
            )
        )
    assert statuses == [200] * 24
    assert sim.meter.snapshot()["followers"]["requests"] == 24


def test_a_failure_inside_the_stand_in_answers_500(
    fresh: tuple[XSim, XSimServer, SyntheticAccount], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, server, _ = fresh

    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(sim, "handle", broken)
    response = get(f"{server.base_url}/2/users/me")
    assert response.status_code == 500 and response.json()["status"] == 500


def test_unknown_paths_and_users(http: requests.Session, base_url: str, demo: SyntheticAccount) -> None:
    assert http.get(f"{base_url}/2/tweets/search/all").status_code == 404  # full-archive search: not served
    stranger = demo.following[0].id  # known user, no timeline in the simulation
    assert http.get(f"{base_url}/2/users/{stranger}/tweets").json() == {"meta": {"result_count": 0}}
    missing = http.get(f"{base_url}/2/users/999/tweets").json()
    assert missing["errors"][0]["type"] == "https://api.twitter.com/2/problems/resource-not-found"


def test_command_line_server_prints_a_working_token() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "followthrough_devkit.xsim", "--port", "0", "--seed", "3", "--profile", "small"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        base_url = lines[0].split(" at ", 1)[1].strip()
        user_id = lines[1].split()[1]
        access = lines[2].split(": ", 1)[1].strip()
        assert base_url.startswith("http://127.0.0.1:")
        me = get(f"{base_url}/2/users/me", headers={"authorization": f"Bearer {access}"}, timeout=5)
        assert me.json()["data"]["id"] == user_id
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_the_meter_counts_a_re_read_per_reader() -> None:
    from followthrough_devkit.xsim.sim import Meter

    meter = Meter()
    meter.served("followers", 2, ["1", "2"], reader="ada")
    meter.served("followers", 2, ["1", "2"], reader="bob")  # someone else's list holds the same people
    assert meter.duplicates("followers") == 0
    meter.served("followers", 1, ["2"], reader="ada")  # ada reads one of hers again: a re-read
    assert meter.duplicates("followers") == 1
    meter.reset()
    meter.served("followers", 1, ["2"], reader="ada")
    assert meter.duplicates("followers") == 0


def test_a_seeded_account_is_regenerated_as_the_same_account() -> None:
    """Accounts kept as seeds are rebuilt on every cache miss: the same data, truth and weeks as generated."""
    sim = XSim(anchor=ANCHOR, realtime=False, account_budget=1)  # only the last one read stays in memory
    first = sim.add_seeded(21, "small", ANCHOR)
    second = sim.add_seeded(22, "small", ANCHOR)
    assert sim.accounts.regenerated == 0
    reference = generate_account(21, "small", ANCHOR)
    assert sim.accounts[first] == reference
    assert sim.accounts.regenerated == 1

    deltas = sim.advance_week(seed=3)  # recorded; each account gets its week when it is next read
    assert sim.accounts.regenerated == 1 and set(deltas) == {first, second}
    other = generate_account(22, "small", ANCHOR)
    assert deltas[second] == advance_week(other, 4) and sim.accounts[second] == other  # the second gets seed + 1
    assert sim.accounts.regenerated == 2
    assert deltas[first] == advance_week(reference, 3)  # regenerated, then advanced by the recorded week
    assert sim.accounts.regenerated == 3
    again = sim.accounts[first]
    assert sim.accounts.regenerated == 3
    assert again == reference and again.truth == reference.truth and again.weeks == reference.weeks


def test_a_seeded_account_is_served_like_one_held_in_memory() -> None:
    held, seeded = XSim(anchor=ANCHOR, realtime=False), XSim(anchor=ANCHOR, realtime=False, account_budget=1)
    user_id = held.add_account(generate_account(23, "small", ANCHOR))
    assert seeded.add_seeded(23, "small", ANCHOR) == user_id
    other = seeded.add_seeded(24, "small", ANCHOR)
    for sim in (held, seeded):
        sim.advance_week(seed=6)
    tokens = {sim: sim.issue_tokens(user_id)[0] for sim in (held, seeded)}
    for path in (
        "/2/users/me",
        f"/2/users/{user_id}/followers?max_results=1000",
        f"/2/users/{user_id}/tweets?max_results=100&expansions=referenced_tweets.id,author_id",
        f"/2/users/{user_id}/liked_tweets?max_results=100",
        "/2/dm_events?max_results=100",
    ):
        seeded.accounts[other]  # evicts the subscriber's account: each read regenerates it
        bodies = [sim.handle("GET", path, {"authorization": f"Bearer {tokens[sim]}"}) for sim in (held, seeded)]
        assert bodies[0].status == 200 and bodies[0].body == bodies[1].body, path
    assert seeded.accounts.regenerated >= 5


def test_seeded_accounts_stay_in_memory_while_the_most_recently_read_fit_the_budget() -> None:
    sizes = [footprint(generate_account(seed, "small", ANCHOR)) for seed in (25, 26, 27)]
    sim = XSim(anchor=ANCHOR, realtime=False, account_budget=sum(sizes) - 1)  # any two fit, not all three
    a, b, c = (sim.add_seeded(seed, "small", ANCHOR) for seed in (25, 26, 27))
    assert sim.accounts.regenerated == 0  # b and c are in memory
    sim.accounts[b]
    sim.accounts[c]
    assert sim.accounts.regenerated == 0
    sim.accounts[a]  # evicts b, the least recently read
    assert sim.accounts.regenerated == 1
    sim.accounts[c]
    assert sim.accounts.regenerated == 1
    sim.accounts[b]
    assert sim.accounts.regenerated == 2
    assert len(sim.accounts) == 3 and list(sim.accounts) == [a, b, c] and a in sim.accounts


def test_users_of_seeded_worlds_are_found_and_the_consent_page_lists_them() -> None:
    sim = XSim(anchor=ANCHOR, realtime=False, account_budget=1)
    first = sim.add_seeded(28, "small", ANCHOR)
    sim.add_seeded(29, "small", ANCHOR)
    reference = generate_account(28, "small", ANCHOR)
    followee = reference.following[0]
    assert sim.find_user(followee.id) == followee  # regenerates the first world, which holds them
    assert sim.accounts.regenerated == 1
    assert sim.find_user("1") is None and sim.find_user("nobody") is None
    assert sim.accounts.regenerated == 1

    sim.advance_week(seed=2)
    newcomer = advance_week(reference, 2).new_following_ids[0]
    assert sim.find_user(newcomer) == reference.users[newcomer]  # weeks not yet indexed: worlds are read
    assert sim.find_user("1") is None  # reads the second world too, which indexes it again
    regenerated = sim.accounts.regenerated
    assert sim.find_user("2") is None and sim.accounts.regenerated == regenerated

    page = sim.handle(
        "GET",
        "/i/oauth2/authorize?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": "app",
                "redirect_uri": "http://127.0.0.1/cb",
                "scope": "tweet.read",
                "state": "s",
                "code_challenge": "c",
                "code_challenge_method": "plain",
            }
        ),
        {},
    )
    assert page.status == 200
    assert f'value="{first}" selected>@{reference.username} ({reference.me.name})' in page.body.decode()
    assert sim.accounts.regenerated == regenerated  # listing the accounts regenerates none
