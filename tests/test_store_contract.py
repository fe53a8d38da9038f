"""The repositories' contract, run against both implementations: the in-memory twins and DynamoDB (moto).

What the pipeline and the sign-up rely on: conditional writes, leases, claims,
TTL-expired items ignored, the due index, one-read loads, deleting everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from followthrough.activity import Account, Activity
from followthrough.adapters.store import ConcurrentUpdate, Repositories, StoredSubscriptions
from followthrough.adapters.store.memory import memory_repositories
from followthrough.adapters.store.protocols import WeekCollected
from followthrough.adapters.store.table import GRAPH_CHUNK
from followthrough.analysis.models import Interaction
from followthrough.cursors import Cursors, Spend
from followthrough.follow_events import FollowEvent
from followthrough.report import WeeklyReport
from followthrough_devkit.aws import create_table
from tests.support.aws import for_in_process_moto
from tests.support.factories import MONDAY_8, subscriber


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY_8)


@pytest.fixture(params=["memory", "dynamodb"])
def repos(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Repositories]:
    if request.param == "memory":
        yield memory_repositories(clock)
        return
    from followthrough.adapters.store.dynamo import dynamo_repositories

    # in-process moto with the project's table and nothing else: the queues, key and identity the `aws`
    # fixture also creates cost three times the table and no repository touches them
    for_in_process_moto(request.getfixturevalue("monkeypatch"))
    with mock_aws():
        create_table(boto3.client("dynamodb"), "followthrough-contract")
        yield dynamo_repositories("followthrough-contract", clock)


def _epoch(clock: Clock, **delta: float) -> int:
    return int((clock() + timedelta(**delta)).timestamp())


def _report(week: str, n: int = 0) -> WeeklyReport:
    return WeeklyReport(subscriber_id="sub-1", week=week, generated_at=MONDAY_8, metrics={"n": n})


# -- subscribers -------------------------------------------------------------------------------


def test_a_profile_round_trips_and_only_receivers_are_in_the_due_index(repos: Repositories) -> None:
    s = repos.subscribers
    s.put_subscriber(subscriber(1), reference=MONDAY_8)
    s.put_subscriber(subscriber(2, email_confirmed=False), reference=MONDAY_8)
    assert s.get_subscriber("sub-1") == subscriber(1)
    assert s.get_subscriber("nobody") is None
    assert [x.subscriber_id for x in s.due_subscribers(subscriber(1).due_slot(MONDAY_8))] == ["sub-1"]
    assert list(s.due_subscribers("DUE#3#08")) == []


def test_a_new_subscriber_is_written_once(repos: Repositories, clock: Clock) -> None:
    repos.subscribers.put_new_subscriber(subscriber(1, status="pending"), expires_at=_epoch(clock, days=1))
    with pytest.raises(ConcurrentUpdate):
        repos.subscribers.put_new_subscriber(subscriber(1, status="pending"), expires_at=_epoch(clock, days=1))
    assert repos.subscribers.get_subscriber("sub-1") == subscriber(1, status="pending")


def test_claim_dispatch_works_once_per_week_and_moves_the_due_slot(repos: Repositories) -> None:
    s = repos.subscribers
    s.put_subscriber(subscriber(1), reference=MONDAY_8)
    assert s.claim_dispatch("sub-1", "2026-W48", "DUE#0#09")
    assert not s.claim_dispatch("sub-1", "2026-W48", "DUE#0#09")
    assert not s.claim_dispatch("nobody", "2026-W48", None)
    assert [x.subscriber_id for x in s.due_subscribers("DUE#0#09")] == ["sub-1"]
    assert list(s.due_subscribers("DUE#0#08")) == []
    assert s.get_subscriber("sub-1").last_dispatched_week == "2026-W48"  # type: ignore[union-attr]
    assert s.claim_dispatch("sub-1", "2026-W49", None)


def test_update_sets_only_its_fields_and_the_due_index_follows(repos: Repositories) -> None:
    s = repos.subscribers
    s.put_subscriber(subscriber(1), reference=MONDAY_8)
    stale = s.get_subscriber("sub-1")
    s.put_subscriber(subscriber(1, email="new@example.com"), reference=MONDAY_8)  # an edit meanwhile
    s.update_subscriber("sub-1", current=stale, first_collected_at=MONDAY_8)
    updated = s.get_subscriber("sub-1")
    assert updated is not None and updated.email == "new@example.com" and updated.first_collected_at == MONDAY_8
    s.update_subscriber("sub-1", suppressed=True)
    assert list(s.due_subscribers(subscriber(1).due_slot(MONDAY_8))) == []
    s.update_subscriber("sub-1", suppressed=False)
    assert [x.subscriber_id for x in s.due_subscribers(subscriber(1).due_slot(MONDAY_8))] == ["sub-1"]
    with pytest.raises(KeyError):
        s.update_subscriber("nobody", suppressed=True)


def test_an_update_from_a_stale_profile_does_not_put_an_unsubscribed_subscriber_back(repos: Repositories) -> None:
    s = repos.subscribers
    s.put_subscriber(subscriber(1), reference=MONDAY_8)
    stale = s.get_subscriber("sub-1")
    s.put_subscriber(subscriber(1, status="unsubscribed"), reference=MONDAY_8)
    s.update_subscriber("sub-1", current=stale, reconnect_email_sent_at=MONDAY_8)
    assert list(s.due_subscribers(subscriber(1).due_slot(MONDAY_8))) == []
    assert s.get_subscriber("sub-1").status == "unsubscribed"  # type: ignore[union-attr]


def _fill(repos: Repositories, clock: Clock) -> None:
    """A subscriber with something of every kind in their partition."""
    repos.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    repos.tokens.put_tokens("sub-1", b"secret", 1.0, expected_version=None)
    repos.signups.put_pending_change("sub-1", "{}", b"c", expires_at=_epoch(clock, days=1))
    state = repos.collector_state.load("sub-1", "2026-W48")
    state.graphs["following"] = {"42": [None, "someone"]}
    repos.collector_state.save(
        state,
        graphs=["following"],
        ledger_updates={"42": Interaction(at=MONDAY_8, kind="reply")},
        collected=WeekCollected("2026-W48", _report("2026-W48"), Spend()),
    )
    repos.weeks.put_digest("sub-1", "2026-W48", b"From: x\r\n\r\nhello")


def test_forget_history_keeps_profile_tokens_and_pending_change(repos: Repositories, clock: Clock) -> None:
    _fill(repos, clock)
    assert repos.subscribers.forget_history("sub-1") > 0
    state = repos.collector_state.load("sub-1", "2026-W48")
    assert state.subscriber == subscriber(1) and state.tokens is not None
    assert state.graphs["following"] == {} and state.ledger == {} and state.week is None
    assert repos.weeks.get_digest("sub-1", "2026-W48") is None
    assert repos.signups.get_pending_change("sub-1") == ("{}", b"c")


def test_delete_everything_leaves_nothing_of_the_subscriber(repos: Repositories, clock: Clock) -> None:
    _fill(repos, clock)
    repos.subscribers.put_subscriber(subscriber(2), reference=MONDAY_8)
    assert repos.subscribers.delete_everything("sub-1") >= 7
    assert repos.subscribers.get_subscriber("sub-1") is None and repos.tokens.get_tokens("sub-1") is None
    assert repos.signups.get_pending_change("sub-1") is None and repos.weeks.stored_week("sub-1", "2026-W48") is None
    assert repos.collector_state.load("sub-1", "2026-W48").ledger == {}
    assert repos.subscribers.delete_everything("sub-1") == 0
    assert repos.subscribers.get_subscriber("sub-2") == subscriber(2)


# -- tokens ------------------------------------------------------------------------------------


def test_tokens_are_versioned_and_a_stale_version_is_refused(repos: Repositories) -> None:
    t = repos.tokens
    assert t.put_tokens("sub-1", b"one", 100.0, expected_version=None) == 1
    with pytest.raises(ConcurrentUpdate):
        t.put_tokens("sub-1", b"other", 100.0, expected_version=None)
    assert t.put_tokens("sub-1", b"two", 200.0, expected_version=1) == 2
    with pytest.raises(ConcurrentUpdate):
        t.put_tokens("sub-1", b"late", 300.0, expected_version=1)
    stored = t.get_tokens("sub-1")
    assert stored is not None and (stored.ciphertext, stored.expires_at, stored.version) == (b"two", 200.0, 2)
    t.keep_tokens("sub-1")
    t.keep_tokens("nobody")  # nothing to keep: no error
    assert t.get_tokens("sub-1") == stored


def test_a_token_lease_is_held_by_one_until_it_expires(repos: Repositories) -> None:
    t = repos.tokens
    t.put_tokens("sub-1", b"one", 100.0, expected_version=None)
    assert t.take_token_lease("sub-1", 1, 1000.0, 30)
    assert not t.take_token_lease("sub-1", 1, 1010.0, 30)
    assert not t.take_token_lease("sub-1", 2, 2000.0, 30)  # a version nobody has
    assert t.take_token_lease("sub-1", 1, 1031.0, 30)
    assert not t.take_token_lease("nobody", 1, 1000.0, 30)


def test_a_released_token_lease_can_be_taken_at_once(repos: Repositories) -> None:
    t = repos.tokens
    t.put_tokens("sub-1", b"one", 100.0, expected_version=None)
    assert t.take_token_lease("sub-1", 1, 1000.0, 30)
    t.release_token_lease("sub-1", 2)  # not the version leased: the lease holds
    assert not t.take_token_lease("sub-1", 1, 1001.0, 30)
    t.release_token_lease("sub-1", 1)
    assert t.take_token_lease("sub-1", 1, 1002.0, 30)
    t.release_token_lease("nobody", 1)  # nothing stored: no error
    assert t.get_tokens("sub-1") is not None and t.get_tokens("nobody") is None


# -- collector state ---------------------------------------------------------------------------


def test_a_first_load_has_defaults(repos: Repositories) -> None:
    state = repos.collector_state.load("sub-1", "2026-W48")
    assert state.subscriber is None and state.tokens is None and state.week is None
    assert state.cursors == Cursors() and state.graphs == {"following": {}, "followers": {}}
    assert state.recent is None and state.dm_conversations == {} and state.ledger == {}
    assert state.previous_reports == []


def test_collector_state_round_trips_and_follow_lists_are_replaced_whole(repos: Repositories) -> None:
    repos.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    state = repos.collector_state.load("sub-1", "2026-W48")
    state.cursors.get("tweets").since_id = "99"
    state.graphs["following"] = {str(n): [None, f"u{n}"] for n in range(GRAPH_CHUNK + 5)}  # two chunks
    state.graphs["followers"] = {"7": ["2026-11-01T00:00:00+00:00", "seven"]}
    state.recent = Activity(subscriber=Account(id="1001"), collected_at=MONDAY_8, window_start=MONDAY_8)
    first = datetime(2026, 11, 20, tzinfo=UTC)
    repos.collector_state.save(
        state,
        graphs=["following", "followers"],
        ledger_updates={"42": Interaction(at=MONDAY_8, kind="reply")},
        dm_conversation_updates={"c1": first},
    )
    loaded = repos.collector_state.load("sub-1", "2026-W48")
    assert loaded.subscriber == subscriber(1)
    assert loaded.cursors.get("tweets").since_id == "99"
    assert loaded.graphs == state.graphs and loaded.recent == state.recent
    assert loaded.ledger == {"42": Interaction(at=MONDAY_8, kind="reply")}
    assert loaded.dm_conversations == {"c1": first}

    loaded.graphs["following"] = {"1": [None, "u1"]}  # a full re-read: everyone else is gone
    loaded.graphs["followers"] = {}  # not saved below: stays as stored
    repos.collector_state.save(
        loaded,
        graphs=["following"],
        ledger_updates={"43": Interaction(at=MONDAY_8, kind="like")},
        dm_conversation_updates={"c2": first},
    )
    again = repos.collector_state.load("sub-1", "2026-W48")
    assert again.graphs == {"following": {"1": [None, "u1"]}, "followers": state.graphs["followers"]}
    assert set(again.ledger) == {"42", "43"} and set(again.dm_conversations) == {"c1", "c2"}


def test_a_load_brings_this_week_and_up_to_eight_earlier_reports(repos: Repositories) -> None:
    repos.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    for n in range(30, 48):
        repos.weeks.put_week("sub-1", f"2026-W{n}", _report(f"2026-W{n}", n), Spend())
    repos.weeks.mark_week("sub-1", "2026-W47", "no_digest", "why")
    repos.weeks.mark_week("sub-1", "2026-W46", "skipped")  # a status only
    repos.weeks.put_week_spend("sub-1", "2026-W48", Spend(requests={"tweets": 2}))
    repos.weeks.put_week("sub-1", "2026-W49", _report("2026-W49"), Spend())  # later: never "previous"
    repos.weeks.put_digest("sub-1", "2026-W47", b"x" * 1000)
    state = repos.collector_state.load("sub-1", "2026-W48")
    assert state.week is not None and state.week.status is None
    assert state.week.spend == Spend(requests={"tweets": 2}) and state.week.report() is None
    assert [r.week for r in state.previous_reports] == [f"2026-W{n}" for n in range(40, 48)]
    assert [r.week for r in repos.weeks.recent_reports("sub-1", limit=3, before_week="2026-W48")] == [
        "2026-W45",
        "2026-W46",
        "2026-W47",
    ]
    assert [r.week for r in repos.weeks.recent_reports("sub-1", limit=2)] == ["2026-W47", "2026-W49"]


def test_subscriber_records_are_what_was_collected_and_reported_never_tokens(repos: Repositories) -> None:
    empty = repos.collector_state.subscriber_records("sub-1")
    assert empty == {
        "weeks": {},
        "ledger": {},
        "following": {},
        "followers": {},
        "recent_activity": None,
        "dm_conversations_seen": {},
    }
    repos.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    repos.tokens.put_tokens("sub-1", b"secret-ciphertext", 1.0, expected_version=None)
    repos.signups.put_pending_change("sub-1", "pending-payload", b"pending-cipher", expires_at=2_000_000_000)
    state = repos.collector_state.load("sub-1", "2026-W48")
    state.cursors.get("tweets").since_id = "cursor-99"
    state.graphs["following"] = {"42": [None, "someone"]}
    state.recent = Activity(subscriber=Account(id="1001"), collected_at=MONDAY_8, window_start=MONDAY_8)
    first = datetime(2026, 11, 20, tzinfo=UTC)
    repos.collector_state.save(
        state,
        graphs=["following"],
        ledger_updates={"42": Interaction(at=MONDAY_8, kind="reply")},
        dm_conversation_updates={"c1": first},
        collected=WeekCollected("2026-W48", _report("2026-W48", 5), Spend(requests={"tweets": 2})),
    )
    repos.weeks.mark_week("sub-1", "2026-W48", "sent", "message-1")
    repos.weeks.mark_week("sub-1", "2026-W47", "no_digest", "why")  # a status only
    repos.weeks.put_digest("sub-1", "2026-W46", b"raw")  # a rendered digest is not a record of its own
    records = repos.collector_state.subscriber_records("sub-1")
    assert set(records["weeks"]) == {"2026-W47", "2026-W48"}
    sent = records["weeks"]["2026-W48"]
    assert sent["status"] == "sent" and sent["reason"] == "message-1"
    assert sent["report"] == _report("2026-W48", 5).model_dump(mode="json")
    assert sent["x_spend"] == Spend(requests={"tweets": 2}).model_dump(mode="json")
    assert records["weeks"]["2026-W47"] == {"status": "no_digest", "reason": "why", "report": None, "x_spend": None}
    assert records["ledger"] == {"42": Interaction(at=MONDAY_8, kind="reply").model_dump(mode="json")}
    assert records["following"] == {"42": [None, "someone"]} and records["followers"] == {}
    assert records["recent_activity"] == state.recent.model_dump(mode="json")
    assert records["dm_conversations_seen"] == {"c1": first.isoformat()}
    flat = repr(records)
    assert "secret-ciphertext" not in flat and "pending" not in flat and "cursor-99" not in flat
    assert repos.collector_state.subscriber_records("sub-2")["weeks"] == {}  # only the subscriber's own


# -- weeks -------------------------------------------------------------------------------------


def test_a_week_records_its_report_spend_and_status(repos: Repositories) -> None:
    w = repos.weeks
    assert w.stored_week("sub-1", "2026-W48") is None and w.week_status("sub-1", "2026-W48") is None
    w.put_week_spend("sub-1", "2026-W48", Spend(requests={"tweets": 1}))
    w.mark_week("sub-1", "2026-W48", "rate_limited", "tweets: retry in 60s")
    assert w.get_week_spend("sub-1", "2026-W48") == Spend(requests={"tweets": 1})
    assert w.get_week("sub-1", "2026-W48") is None
    state = repos.collector_state.load("sub-1", "2026-W48")
    state.subscriber = subscriber(1)
    # the collect's save writes the record whole, in its batch: the earlier status and spend are replaced
    repos.collector_state.save(
        state, collected=WeekCollected("2026-W48", _report("2026-W48", 3), Spend(requests={"tweets": 2}))
    )
    assert w.week_status("sub-1", "2026-W48") == ("collected", "")
    assert w.get_week("sub-1", "2026-W48") == (_report("2026-W48", 3), Spend(requests={"tweets": 2}))
    w.mark_week("sub-1", "2026-W48", "sent", "message-1")
    assert w.week_status("sub-1", "2026-W48") == ("sent", "message-1")
    assert w.get_week("sub-1", "2026-W48") is not None  # the report stays


def test_keep_earlier_leaves_a_recorded_status_alone(repos: Repositories) -> None:
    w = repos.weeks
    w.mark_week("sub-1", "2026-W48", "skipped", "not receiving", keep_earlier=True)
    assert w.week_status("sub-1", "2026-W48") == ("skipped", "not receiving")
    w.mark_week("sub-1", "2026-W48", "needs_reauth", "X refused")
    w.mark_week("sub-1", "2026-W48", "skipped", "vaguer", keep_earlier=True)
    assert w.week_status("sub-1", "2026-W48") == ("needs_reauth", "X refused")


def test_a_digest_loads_profile_week_and_earlier_reports_at_once(repos: Repositories) -> None:
    assert repos.weeks.for_digest("sub-1", "2026-W48").subscriber is None
    repos.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    repos.tokens.put_tokens("sub-1", b"t", 1.0, expected_version=None)
    state = repos.collector_state.load("sub-1", "2026-W48")
    state.recent = Activity(subscriber=Account(id="1001"), collected_at=MONDAY_8, window_start=MONDAY_8)
    repos.collector_state.save(state)
    repos.weeks.put_week("sub-1", "2026-W47", _report("2026-W47"), Spend())
    repos.collector_state.save(state, collected=WeekCollected("2026-W48", _report("2026-W48", 5), Spend(notes=["n"])))
    loaded = repos.weeks.for_digest("sub-1", "2026-W48")
    assert loaded.subscriber == subscriber(1)
    assert loaded.week is not None and loaded.week.status == "collected"
    assert loaded.week.report() == (_report("2026-W48", 5), Spend(notes=["n"]))
    assert [r.week for r in loaded.previous_reports] == ["2026-W47"]


def test_digests_and_run_flags_are_kept(repos: Repositories) -> None:
    repos.weeks.put_digest("sub-1", "2026-W48", b"raw message")
    assert repos.weeks.get_digest("sub-1", "2026-W48") == b"raw message"
    assert repos.weeks.get_digest("sub-1", "2026-W49") is None
    assert repos.weeks.run_flag("2026-W48", "credits_exhausted") is None
    repos.weeks.set_run_flag("2026-W48", "credits_exhausted", "X said no")
    assert repos.weeks.run_flag("2026-W48", "credits_exhausted") == "X said no"


def test_weeks_of_lists_every_week_with_a_report_status_or_digest_once(repos: Repositories) -> None:
    assert repos.weeks.weeks_of("sub-1") == []
    repos.weeks.put_week("sub-1", "2026-W47", _report("2026-W47"), Spend())
    repos.weeks.mark_week("sub-1", "2026-W48", "no_digest", "why")
    repos.weeks.put_digest("sub-1", "2026-W47", b"raw")
    repos.weeks.put_digest("sub-1", "2026-W45", b"raw")  # a digest without its week item still counts
    repos.weeks.put_week("sub-2", "2026-W40", _report("2026-W40"), Spend())
    repos.weeks.set_run_flag("2026-W44", "credits_exhausted", "not the subscriber's")
    assert repos.weeks.weeks_of("sub-1") == ["2026-W45", "2026-W47", "2026-W48"]
    repos.subscribers.delete_everything("sub-1")
    assert repos.weeks.weeks_of("sub-1") == [] and repos.weeks.weeks_of("sub-2") == ["2026-W40"]


# -- sign-up records ---------------------------------------------------------------------------


def test_an_oauth_state_works_once(repos: Repositories, clock: Clock) -> None:
    g = repos.signups
    g.put_oauth_state("k", "payload", expires_at=_epoch(clock, minutes=10))
    with pytest.raises(ConcurrentUpdate):
        g.put_oauth_state("k", "again", expires_at=_epoch(clock, minutes=10))
    assert g.take_oauth_state("k") == ("payload", _epoch(clock, minutes=10))
    assert g.take_oauth_state("k") is None


def test_a_claim_is_held_by_one_subscriber_until_released_or_expired(repos: Repositories, clock: Clock) -> None:
    g = repos.signups
    assert g.owner("EMAIL", "Ada@Example.com") is None
    assert g.claim("EMAIL", "Ada@Example.com", "sub-1", expires_at=_epoch(clock, hours=1)) == "sub-1"
    assert g.claim("EMAIL", "ada@example.com", "sub-2") == "sub-1"  # addresses compare case-insensitively
    assert g.claim("EMAIL", "ada@example.com", "sub-1") == "sub-1"  # again by the holder: kept
    assert g.owner("EMAIL", "ADA@example.com") == "sub-1"
    g.release("EMAIL", "ada@example.com", "sub-2")  # not the holder: nothing happens
    assert g.owner("EMAIL", "ada@example.com") == "sub-1"
    g.release("EMAIL", "ada@example.com", "sub-1")
    assert g.owner("EMAIL", "ada@example.com") is None
    assert g.claim("XUSER", "1001", "sub-1", expires_at=_epoch(clock, hours=1)) == "sub-1"
    assert g.owner("XUSER", "1001") == "sub-1" and g.owner("XUSER", "1002") is None
    clock.advance(hours=2)  # expired, though not deleted yet: free
    assert g.owner("XUSER", "1001") is None
    assert g.claim("XUSER", "1001", "sub-2") == "sub-2"
    assert g.owner("XUSER", "1001") == "sub-2"


def test_a_confirmation_slot_holds_for_its_cooldown(repos: Repositories, clock: Clock) -> None:
    g = repos.signups
    assert g.take_confirmation_slot("ada@example.com", cooldown_s=600, confirms="about one") is None
    clock.advance(minutes=5)
    assert g.take_confirmation_slot("Ada@example.com", cooldown_s=600, confirms="about two") == "about one"
    clock.advance(minutes=6)
    assert g.take_confirmation_slot("ada@example.com", cooldown_s=600, confirms="about two") is None
    g.forget_confirmation_slot("ada@example.com")
    assert g.take_confirmation_slot("ada@example.com", cooldown_s=600, confirms="about three") is None


def test_sign_up_emails_are_counted_per_key_and_window_up_to_the_limit(repos: Repositories, clock: Clock) -> None:
    g = repos.signups
    clock.at = datetime.fromtimestamp((int(MONDAY_8.timestamp()) // 3600 + 1) * 3600, UTC)  # a window's start
    assert [g.count_signup_email("a" * 64, window_s=3600, limit=3) for _ in range(4)] == [True, True, True, False]
    assert g.count_signup_email("b" * 64, window_s=3600, limit=3)  # another X account, mailbox or client
    assert g.count_signup_email("a" * 64, window_s=3600, limit=4)  # a refused email was not counted
    assert not g.count_signup_email("a" * 64, window_s=3600, limit=4)
    clock.advance(minutes=59)
    assert not g.count_signup_email("a" * 64, window_s=3600, limit=4)  # the same window
    clock.advance(minutes=1)
    assert g.count_signup_email("a" * 64, window_s=3600, limit=1)  # a new window starts from nothing
    assert not g.count_signup_email("a" * 64, window_s=3600, limit=1)
    assert g.count_signup_email("a" * 64, window_s=86400, limit=1)  # a window of another length counts apart


def test_a_pending_change_is_ignored_once_expired(repos: Repositories, clock: Clock) -> None:
    g = repos.signups
    g.put_pending_change("sub-1", "change", b"cipher", expires_at=_epoch(clock, hours=1))
    assert g.get_pending_change("sub-1") == ("change", b"cipher")
    clock.advance(hours=2)
    assert g.get_pending_change("sub-1") is None
    g.put_pending_change("sub-1", "newer", b"c2", expires_at=_epoch(clock, hours=1))
    g.delete_pending_change("sub-1")
    assert g.get_pending_change("sub-1") is None
    g.delete_pending_change("sub-1")  # already gone: no error


# -- suppression -------------------------------------------------------------------------------


def test_suppression_is_case_insensitive(repos: Repositories) -> None:
    assert not repos.suppression.is_suppressed("ada@example.com")
    repos.suppression.suppress("Ada@Example.com", "bounce: Permanent General")
    assert repos.suppression.is_suppressed("ada@example.com")
    assert not repos.suppression.is_suppressed("grace@example.com")


# -- the app's Post reads per billing cycle ---------------------------------------------------


def test_post_reads_are_reserved_up_to_the_limit_and_settled_to_what_was_read(repos: Repositories) -> None:
    meter = repos.post_reads
    assert meter.post_reads("2026-12-01").reserved == 0
    assert meter.reserve_post_reads("2026-12-01", 600, limit=1000)
    assert meter.reserve_post_reads("2026-12-01", 400, limit=1000)  # exactly the limit fits
    assert not meter.reserve_post_reads("2026-12-01", 1, limit=1000)
    assert not meter.reserve_post_reads("2026-12-01", 2000, limit=1000)  # more than the limit on its own
    meter.settle_post_reads("2026-12-01", 600, 250)  # read less than reserved: the rest is free again
    assert meter.post_reads("2026-12-01").reserved == 650
    assert meter.post_reads("2026-12-01").read == 250
    assert meter.reserve_post_reads("2026-12-01", 350, limit=1000)
    after = meter.settle_post_reads("2026-12-01", 350, 500)  # read more than reserved: counted as read
    assert (after.reserved, after.read) == (1150, 750)
    assert meter.post_reads("2026-12-01") == after
    assert meter.post_reads("2027-01-01").reserved == 0  # each cycle counts from zero


def test_a_capped_cycle_is_recorded_once_and_refuses_every_reservation(repos: Repositories) -> None:
    meter = repos.post_reads
    assert meter.reserve_post_reads("2026-12-01", 10, limit=1000)
    assert meter.mark_post_cap_reached("2026-12-01", "X answered usage-capped on tweets")
    assert not meter.mark_post_cap_reached("2026-12-01", "again, from another collect")
    assert meter.post_reads("2026-12-01").capped == "X answered usage-capped on tweets"
    assert not meter.reserve_post_reads("2026-12-01", 1, limit=1000)
    assert meter.post_reads("2026-12-01").reserved == 10
    assert meter.post_reads("2027-01-01").capped is None
    assert meter.reserve_post_reads("2027-01-01", 1, limit=1000)


# -- X Activity API events and subscriptions ---------------------------------------------------


def _follow_event(event_id: str, at: datetime, *, unfollow: bool = False) -> FollowEvent:
    return FollowEvent(
        event_id=event_id,
        event_type="follow.unfollow" if unfollow else "follow.follow",
        source_id="900",
        source_username="fan",
        target_id="100",
        at=at,
    )


def test_an_event_is_stored_once_by_its_id_and_read_back_oldest_first(repos: Repositories, clock: Clock) -> None:
    a = repos.activity
    later, earlier = _follow_event("e2", MONDAY_8 + timedelta(minutes=5)), _follow_event("e1", MONDAY_8)
    assert a.put_event("sub-1", later, expires_at=_epoch(clock, days=14))
    assert a.put_event("sub-1", earlier, expires_at=_epoch(clock, days=14))
    repeat = later.model_copy(update={"at": MONDAY_8 + timedelta(hours=3), "event_type": "follow.unfollow"})
    assert not a.put_event("sub-1", repeat, expires_at=_epoch(clock, days=14))  # a redelivery changes nothing
    assert a.follow_events("sub-1") == [earlier, later]
    assert a.follow_events("sub-2") == []


def test_expired_events_are_not_read_and_events_go_with_the_subscriber(repos: Repositories, clock: Clock) -> None:
    a = repos.activity
    repos.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    a.put_event("sub-1", _follow_event("old", MONDAY_8), expires_at=_epoch(clock, days=1))
    a.put_event("sub-1", _follow_event("new", MONDAY_8), expires_at=_epoch(clock, days=14))
    clock.advance(days=2)
    assert [e.event_id for e in a.follow_events("sub-1")] == ["new"]
    repos.subscribers.delete_everything("sub-1")
    assert a.follow_events("sub-1") == []


def test_subscriptions_are_counted_against_the_allowance(repos: Repositories) -> None:
    a = repos.activity
    assert a.subscriptions_held() == 0
    assert a.reserve_subscriptions(2, limit=3)
    assert not a.reserve_subscriptions(2, limit=3)  # 4 would pass the limit: nothing counted
    assert a.subscriptions_held() == 2
    assert a.reserve_subscriptions(1, limit=3)
    a.release_subscriptions(2)
    assert a.subscriptions_held() == 1
    a.release_subscriptions(5)  # more than is held: never below zero, nothing changes
    assert a.subscriptions_held() == 1


def test_subscription_records_of_a_subscriber_and_of_the_app(repos: Repositories) -> None:
    a = repos.activity
    mine = StoredSubscriptions("100", {"follow.follow": "1", "follow.unfollow": "2"})
    app = StoredSubscriptions(None, {"oauth.revoke": "3"})
    a.put_subscriptions("sub-1", mine)
    a.put_subscriptions(None, app)
    assert a.get_subscriptions("sub-1") == mine
    assert a.get_subscriptions(None) == app
    assert a.get_subscriptions("sub-2") is None
    a.delete_subscriptions("sub-1")
    assert a.get_subscriptions("sub-1") is None
    assert a.get_subscriptions(None) == app
