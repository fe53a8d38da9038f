"""Every recorded X API response parses through the project's wire models."""

from __future__ import annotations

import glob
import json
import os

import pytest

from followthrough import normalize
from followthrough.xmodels import DmEventPage, TweetPage, UserPage, XTweet, XUserResponse
from tests.support.samples import SAMPLES

MODEL_FOR = {
    "get_users_tweets.json": TweetPage,
    "get_users_mentions.json": TweetPage,
    "get_liked_tweets.json": TweetPage,
    "get_home_timeline.json": TweetPage,
    "get_quote_tweets.json": TweetPage,
    "get_tweets.json": TweetPage,
    "get_users_following.json": UserPage,
    "get_users_followers.json": UserPage,
    "get_users.json": UserPage,
    "get_me.json": XUserResponse,
    "get_user.json": XUserResponse,
}


def _responses(name: str) -> list[dict]:
    with open(os.path.join(SAMPLES, name)) as f:
        return [pair["response"] for pair in json.load(f)]


def test_every_sample_file_is_covered() -> None:
    names = {os.path.basename(p) for p in glob.glob(os.path.join(SAMPLES, "*.json"))}
    assert names, "the recorded samples are missing"
    assert names == set(MODEL_FOR) | {"dm_events.json"}


@pytest.mark.parametrize("name", sorted(MODEL_FOR))
def test_recorded_response_parses(name: str) -> None:
    for response in _responses(name):
        parsed = MODEL_FOR[name].model_validate(response["body"])
        data = parsed.data if isinstance(parsed.data, list) else [parsed.data]
        assert len(data) == len(response["body"].get("data", [])) or not isinstance(parsed.data, list)
        assert all(isinstance(item.id, str) and item.id.isdigit() for item in data)


def test_pages_keep_next_token_and_counts() -> None:
    page = TweetPage.model_validate(_responses("get_users_tweets.json")[0]["body"])
    assert page.meta.next_token == "7140dibdnow9c7btw4232poeq0wapgnwgwqwvuwn3peex"
    assert page.meta.result_count == len(page.data) == 2
    assert page.data[0].edit_history_tweet_ids == [page.data[0].id]


def test_empty_dm_page_has_no_data_and_parses() -> None:
    bodies = [r["body"] for r in _responses("dm_events.json") if r["status"] == 200]
    empty = [b for b in bodies if "data" not in b]
    assert empty == [{"meta": {"result_count": 0}}]
    page = DmEventPage.model_validate(empty[0])
    assert page.data == [] and page.meta.result_count == 0 and page.meta.next_token is None
    full = DmEventPage.model_validate(next(b for b in bodies if "data" in b))
    assert [e.event_type for e in full.data] == ["MessageCreate", "MessageCreate"]


def test_post_names_from_the_openapi_document_parse_like_tweet_names() -> None:
    tweet_names = XTweet.model_validate(
        {
            "id": "1",
            "text": "hi",
            "referenced_tweets": [{"type": "quoted", "id": "9"}],
            "edit_history_tweet_ids": ["1"],
            "public_metrics": {"retweet_count": 3},
        }
    )
    post_names = XTweet.model_validate(
        {
            "id": "1",
            "text": "hi",
            "referenced_posts": [{"type": "quoted", "id": "9"}],
            "edit_history_post_ids": ["1"],
            "public_metrics": {"repost_count": 3},
        }
    )
    assert tweet_names == post_names
    assert post_names.public_metrics is not None and post_names.public_metrics.retweet_count == 3


def test_normalized_reply_quote_and_retweet() -> None:
    reply = XTweet.model_validate(
        {
            "id": "10",
            "text": "@ann yes!",
            "author_id": "1",
            "created_at": "2026-11-20T10:00:00.000Z",
            "in_reply_to_user_id": "2",
            "referenced_tweets": [{"type": "replied_to", "id": "5"}],
            "entities": {
                "mentions": [{"start": 0, "end": 4, "username": "ann", "id": "2"}],
                "urls": [{"url": "https://t.co/x", "expanded_url": "https://example.com/a"}],
                "hashtags": [{"start": 1, "end": 3, "tag": "buildinpublic"}],
            },
        }
    )
    quote = XTweet.model_validate(
        {
            "id": "11",
            "text": "so true",
            "author_id": "1",
            "created_at": "2026-11-20T11:00:00.000Z",
            "referenced_tweets": [{"type": "quoted", "id": "6"}],
        }
    )
    included = [XTweet.model_validate({"id": "6", "text": "original", "author_id": "3"})]
    posts = normalize.posts([reply, quote], included)
    assert posts[0].kind == "reply" and posts[0].in_reply_to_user_id == "2"
    assert posts[0].mentioned_ids == ["2"] and posts[0].urls == ["https://example.com/a"]
    assert posts[0].hashtags == ["buildinpublic"]
    assert posts[1].kind == "quote" and posts[1].quoted_author_id == "3"


def test_normalized_dm_keeps_no_text() -> None:
    from followthrough.xmodels import XDmEvent

    event = XDmEvent.model_validate(
        {
            "id": "7",
            "event_type": "MessageCreate",
            "text": "Thanks for the follow Ann! Grab my free ebook https://x.co/1",
            "sender_id": "2",
            "dm_conversation_id": "1-2",
            "created_at": "2026-11-20T10:00:00.000Z",
        }
    )
    dm = normalize.dm_event(event)
    assert "text" not in dm.model_dump() and "ebook" not in dm.model_dump_json()
    assert dm.has_link and dm.has_call_to_action and dm.participant_ids == ["1", "2"]
    assert dm.fingerprint and len(dm.fingerprint) == 16
