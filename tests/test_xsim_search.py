"""The stand-in's recent search (``GET /2/tweets/search/recent``): seven days, the operators we use, X's limits.

Behaviours from x-api/posts/search (introduction.mdx: the last 7 days, up to 100 posts a request;
operators.mdx and build-a-query.mdx: keywords, phrases, OR, @, from:, is:retweet, negation, case-insensitive)
and openapi.json (max_results 10-100, at most one of start_time and since_id). Answered in-process by
``dispatch``; the HTTP server around it is tested in test_xsim.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from followthrough.pipeline.collect import untagged_query
from followthrough.xmodels import XEntities, XMentionEntity, XReference, XTweet
from followthrough_devkit.xsim import SyntheticAccount, XSim, generate_account
from followthrough_devkit.xsim.api import dispatch
from followthrough_devkit.xsim.search import QueryError, compile_query, searchable

ANCHOR = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def account() -> SyntheticAccount:
    return generate_account(5, "small", ANCHOR)


@pytest.fixture
def sim(account: SyntheticAccount) -> XSim:
    sim = XSim(anchor=ANCHOR, realtime=False)
    sim.add_account(account)
    return sim


def _search(sim: XSim, account: SyntheticAccount, **params: Any) -> tuple[int, dict[str, Any]]:
    access, _ = sim.issue_tokens(account.user_id)
    response = dispatch(
        sim, "GET", f"/2/tweets/search/recent?{urlencode(params)}", {"authorization": f"Bearer {access}"}, b""
    )
    return response.status, json.loads(response.body)


def _walk(sim: XSim, account: SyntheticAccount, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token = None
    while True:
        status, body = _search(sim, account, **params, **({"next_token": token} if token else {}))
        assert status == 200, body
        found += body.get("data", [])
        token = body["meta"].get("next_token")
        if not token:
            return found


def _post(text: str, *, mentions: tuple[str, ...] = (), retweet: bool = False) -> XTweet:
    return XTweet(
        id="1",
        text=text,
        entities=XEntities(mentions=[XMentionEntity(username=m) for m in mentions]),
        referenced_tweets=[XReference(type="retweeted", id="2")] if retweet else [],
    )


def test_operators_match_as_x_documents() -> None:
    query = compile_query('(annlee OR "Ann Lee") -@annlee -from:annlee -is:retweet')
    assert query(searchable(_post("Has anyone seen ANN LEE's talk?"), "bob"))  # case-insensitive, "Lee's"
    assert query(searchable(_post("thanks annlee, great notes"), "bob"))
    assert not query(searchable(_post("thanks @annlee, great notes", mentions=("annlee",)), "bob"))  # -@
    assert not query(searchable(_post("my own notes, annlee here"), "annlee"))  # -from:
    assert not query(searchable(_post("RT great notes by annlee", retweet=True), "bob"))  # -is:retweet
    assert not query(searchable(_post("Ann and Lee met"), "bob"))  # a phrase is its words in a row
    assert not query(searchable(_post("annleeson wrote it"), "bob"))  # a keyword is a whole word


@pytest.mark.parametrize(
    "query",
    ["", "-annlee", "is:retweet", "(annlee", "annlee)", "annlee OR", "lang:en annlee", "x" * 513],
)
def test_queries_x_refuses_are_refused(query: str) -> None:
    with pytest.raises(QueryError):
        compile_query(query)


def test_search_serves_the_last_seven_days_of_posts_naming_the_subscriber(sim: XSim, account: SyntheticAccount) -> None:
    found = _walk(sim, account, query=untagged_query(account.me), max_results=10)  # the collector's query
    planted = {
        t.id
        for t in account.untagged_posts
        if t.id in account.truth.untagged_mention_ids and t.created_at and t.created_at >= ANCHOR - timedelta(days=7)
    }
    assert planted and {t["id"] for t in found} == planted
    older = [t for t in account.untagged_posts if t.created_at and t.created_at < ANCHOR - timedelta(days=7)]
    assert older  # the generator planted older ones too: the window is what keeps them out
    assert sim.meter.snapshot()["search_recent"]["resources"] == len(found)  # priced per post returned


def test_search_checks_its_parameters_like_x(sim: XSim, account: SyntheticAccount) -> None:
    handle = account.me.username
    too_old = (ANCHOR - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = _search(sim, account, query=handle, start_time=too_old)
    assert status == 400 and body["errors"][0]["parameters"] == {"start_time": [too_old]}
    assert _search(sim, account, query=handle, max_results=9)[0] == 400
    assert _search(sim, account, query=handle, max_results=101)[0] == 400
    both = {"start_time": (ANCHOR - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "since_id": "5"}
    assert _search(sim, account, query=handle, **both)[0] == 400
    assert _search(sim, account, query="-is:retweet")[0] == 400
    assert _search(sim, account)[0] == 400  # no query at all
    status, body = _search(sim, account, query="zzzznothingmatches")
    assert status == 200 and body == {"meta": {"result_count": 0}}
