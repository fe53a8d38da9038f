"""In-memory twins of the repositories: the same contract as ``dynamo.py`` (tests/test_store_contract.py).

They keep Python objects (copies, never the caller's) under the table's own
keys, so a subscriber's partition is deleted as one, and expired items stay
until read, as DynamoDB's late TTL deletion leaves them. The collector's state
is one item, under the key of the table's cursors item (``CURSORS``).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from followthrough.adapters.store.protocols import (
    FOLLOW_LISTS,
    PREVIOUS_REPORTS,
    Clock,
    CollectorState,
    DigestState,
    PostReads,
    Repositories,
    StoredSubscriptions,
    StoredTokens,
    StoredWeek,
    WeekCollected,
    export_records,
    reported_weeks,
    sent_weeks,
)
from followthrough.adapters.store.table import (
    APP_KEY,
    KEPT_ON_NEW_ACCOUNT,
    POST_READS_KEPT_S,
    ConcurrentUpdate,
    UniqueKind,
    event_key,
    post_reads_key,
    sub_key,
    subscriptions_key,
    suppressed_key,
    unique_key,
    week_key,
)
from followthrough.analysis.models import Interaction
from followthrough.cursors import Cursors, Spend
from followthrough.follow_events import FollowEvent, in_order
from followthrough.report import WeeklyReport
from followthrough.subscriber import Subscriber

_IMMUTABLE = (str, int, float, bool, bytes, datetime, type(None))


def _copied(value: Any) -> Any:
    """What DynamoDB would hand back: nothing the caller changes afterwards reaches the stored item.

    Frozen models and scalars are shared rather than copied (they cannot change), other models are rebuilt
    field by field: a collector state holds thousands of them, and ``copy.deepcopy`` of each made the twins
    the slowest part of the pipeline tests."""
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, BaseModel):
        if value.model_config.get("frozen"):
            return value
        shallow = copy.copy(value)
        object.__setattr__(shallow, "__dict__", {name: _copied(v) for name, v in value.__dict__.items()})
        return shallow
    return copy.deepcopy(value)


@dataclass
class MemoryTable:
    """(pk, sk) -> attributes; what the twins of one table share."""

    clock: Clock
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # a conditional write reads, checks and writes under it, as DynamoDB does atomically
    lock: threading.RLock = field(default_factory=threading.RLock)

    def epoch(self) -> int:
        return int(self.clock().timestamp())

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.items.get((pk, sk))
        return _copied(item) if item is not None else None

    def live(self, pk: str, sk: str) -> dict[str, Any] | None:
        """The item unless its ``ttl`` has passed."""
        item = self.get(pk, sk)
        return None if item is None or ("ttl" in item and int(item["ttl"]) < self.epoch()) else item

    def put(self, pk: str, sk: str, item: dict[str, Any]) -> None:
        self.items[(pk, sk)] = _copied(item)

    def update(self, pk: str, sk: str, **values: Any) -> None:
        self.items.setdefault((pk, sk), {}).update(_copied(values))

    def delete(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.items.pop((pk, sk), None)

    def partition(self, pk: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        return sorted((sk, _copied(item)) for (p, sk), item in self.items.items() if p == pk and sk.startswith(prefix))

    def sort_keys(self, pk: str, prefix: str = "") -> list[str]:
        """The sort keys of ``pk``'s items (a keys-only query): nothing copied."""
        return sorted(sk for p, sk in self.items if p == pk and sk.startswith(prefix))


def _status(table: MemoryTable, status: str, reason: str) -> dict[str, Any]:
    return {"status": status, "reason": reason, "status_at": table.clock().isoformat()}


def _weeks(table: MemoryTable, subscriber_id: str) -> dict[str, dict[str, Any]]:
    return {sk.removeprefix("WEEK#"): item for sk, item in table.partition(sub_key(subscriber_id), "WEEK#")}


def _stored_week(item: dict[str, Any]) -> StoredWeek:
    return StoredWeek(
        status=item.get("status"),
        reason=item.get("reason", ""),
        report_json=item.get("report"),
        spend=Spend.model_validate(item["spend"]) if "spend" in item else None,
    )


def _previous(weeks: dict[str, dict[str, Any]], before_week: str | None, limit: int) -> list[WeeklyReport]:
    chosen = reported_weeks([w for w, item in weeks.items() if "report" in item], before_week, limit)
    return [WeeklyReport.model_validate(weeks[w]["report"]) for w in chosen]


@dataclass
class MemorySubscribers:
    table: MemoryTable

    def _profile(self, subscriber_id: str) -> dict[str, Any] | None:
        return self.table.get(sub_key(subscriber_id), "PROFILE")

    def put_subscriber(
        self, subscriber: Subscriber, *, reference: datetime | None = None, forget_at: int | None = None
    ) -> None:
        item: dict[str, Any] = {"subscriber": subscriber}
        if forget_at is not None:
            item["ttl"] = forget_at
        if subscriber.receives_digest:
            item["due"] = subscriber.due_slot(reference or self.table.clock())
        self.table.put(sub_key(subscriber.subscriber_id), "PROFILE", item)

    def put_new_subscriber(self, subscriber: Subscriber, *, expires_at: int) -> None:
        with self.table.lock:
            if self._profile(subscriber.subscriber_id) is not None:
                raise ConcurrentUpdate(f"subscriber {subscriber.subscriber_id} exists")
            self.table.put(sub_key(subscriber.subscriber_id), "PROFILE", {"subscriber": subscriber, "ttl": expires_at})

    def get_subscriber(self, subscriber_id: str) -> Subscriber | None:
        item = self._profile(subscriber_id)
        return item["subscriber"] if item else None

    def due_subscribers(self, slot: str) -> Iterator[Subscriber]:
        for (_, sk), item in list(self.table.items.items()):
            if sk == "PROFILE" and item.get("due") == slot:
                yield _copied(item["subscriber"])

    def claim_dispatch(self, subscriber_id: str, week: str, next_slot: str | None) -> bool:
        with self.table.lock:
            item = self._profile(subscriber_id)
            if item is None or item["subscriber"].last_dispatched_week == week:
                return False
            item["subscriber"] = item["subscriber"].model_copy(update={"last_dispatched_week": week})
            if next_slot:
                item["due"] = next_slot
            self.table.put(sub_key(subscriber_id), "PROFILE", item)
            return True

    def update_subscriber(self, subscriber_id: str, *, current: Subscriber | None = None, **fields: Any) -> None:
        with self.table.lock:
            item = self._profile(subscriber_id)
            if item is None:
                raise KeyError(subscriber_id)
            before: Subscriber = item["subscriber"]
            updated = before.model_copy(update=fields)
            item["subscriber"] = Subscriber.model_validate_json(updated.model_dump_json())
            if updated.receives_digest and not before.receives_digest:
                item["due"] = updated.due_slot(self.table.clock())
            elif before.receives_digest and not updated.receives_digest:
                item.pop("due", None)
            self.table.put(sub_key(subscriber_id), "PROFILE", item)

    def forget_history(self, subscriber_id: str) -> int:
        return self._delete(subscriber_id, keep=KEPT_ON_NEW_ACCOUNT)

    def delete_everything(self, subscriber_id: str) -> int:
        return self._delete(subscriber_id, keep=frozenset())

    def _delete(self, subscriber_id: str, *, keep: frozenset[str]) -> int:
        pk = sub_key(subscriber_id)
        gone = [sk for sk in self.table.sort_keys(pk) if sk not in keep]
        for sk in gone:
            self.table.delete(pk, sk)
        return len(gone)


@dataclass
class MemoryTokens:
    table: MemoryTable

    def get_tokens(self, subscriber_id: str) -> StoredTokens | None:
        item = self.table.get(sub_key(subscriber_id), "TOKEN")
        return StoredTokens(item["ciphertext"], item["expires_at"], item["version"]) if item else None

    def put_tokens(
        self,
        subscriber_id: str,
        ciphertext: bytes,
        expires_at: float,
        *,
        expected_version: int | None,
        forget_at: int | None = None,
    ) -> int:
        with self.table.lock:
            item = self.table.get(sub_key(subscriber_id), "TOKEN")
            current = None if item is None else item["version"]
            if current != expected_version:
                raise ConcurrentUpdate(f"tokens of {subscriber_id} changed concurrently")
            version = (expected_version or 0) + 1
            fresh: dict[str, Any] = {
                "ciphertext": bytes(ciphertext),
                "expires_at": float(expires_at),
                "version": version,
            }
            if forget_at is not None:
                fresh["ttl"] = forget_at
            self.table.put(sub_key(subscriber_id), "TOKEN", fresh)
            return version

    def keep_tokens(self, subscriber_id: str) -> None:
        item = self.table.get(sub_key(subscriber_id), "TOKEN")
        if item is not None:
            item.pop("ttl", None)
            self.table.put(sub_key(subscriber_id), "TOKEN", item)

    def take_token_lease(self, subscriber_id: str, version: int, now: float, lease_s: int) -> bool:
        with self.table.lock:
            item = self.table.get(sub_key(subscriber_id), "TOKEN")
            if item is None or item["version"] != version or item.get("lease_until", -1) >= int(now):
                return False
            self.table.update(sub_key(subscriber_id), "TOKEN", lease_until=int(now) + lease_s)
            return True

    def release_token_lease(self, subscriber_id: str, version: int) -> None:
        with self.table.lock:
            item = self.table.items.get((sub_key(subscriber_id), "TOKEN"))
            if item is not None and item["version"] == version:
                item.pop("lease_until", None)


@dataclass
class MemoryCollectorState:
    table: MemoryTable

    def load(self, subscriber_id: str, week: str) -> CollectorState:
        pk = sub_key(subscriber_id)
        state = CollectorState(
            subscriber=MemorySubscribers(self.table).get_subscriber(subscriber_id),
            tokens=MemoryTokens(self.table).get_tokens(subscriber_id),
            week=None,
        )
        collected = self.table.get(pk, "CURSORS")
        if collected is not None:
            state.cursors, state.graphs, state.recent = collected["cursors"], collected["graphs"], collected["recent"]
            state.dm_conversations = collected["dm_conversations"]
        state.ledger = {
            sk.removeprefix("FOLLOWEE#"): item["interaction"] for sk, item in self.table.partition(pk, "FOLLOWEE#")
        }
        weeks = _weeks(self.table, subscriber_id)
        state.week = _stored_week(weeks[week]) if week in weeks else None
        state.previous_reports = _previous(weeks, week, PREVIOUS_REPORTS)
        state.sent_weeks = sent_weeks(weeks, (r.week for r in state.previous_reports))
        return state

    def save(
        self,
        state: CollectorState,
        *,
        graphs: Collection[str] = (),
        ledger_updates: Mapping[str, Interaction] | None = None,
        dm_conversation_updates: Mapping[str, datetime] | None = None,
        collected: WeekCollected | None = None,
    ) -> None:
        assert state.subscriber is not None
        pk = sub_key(state.subscriber.subscriber_id)
        # only the follow lists this save leaves alone are kept, and put copies them: no copy on the way in
        stored = self.table.items.get((pk, "CURSORS")) or {
            "graphs": {which: {} for which in FOLLOW_LISTS},
            "dm_conversations": {},
        }
        state.dm_conversations.update(dm_conversation_updates or {})
        self.table.put(
            pk,
            "CURSORS",
            {
                "cursors": Cursors.model_validate(state.cursors.model_dump(mode="json")),
                "graphs": {
                    which: state.graphs[which] if which in graphs else stored["graphs"][which] for which in FOLLOW_LISTS
                },
                "recent": state.recent,
                "dm_conversations": state.dm_conversations,
            },
        )
        for user_id, interaction in (ledger_updates or {}).items():
            self.table.put(pk, f"FOLLOWEE#{user_id}", {"interaction": interaction})
            state.ledger[user_id] = interaction
        if collected is not None:
            self.table.put(
                pk,
                week_key(collected.week),
                {
                    "report": collected.report.model_dump(mode="json"),
                    "spend": collected.spend.model_dump(mode="json"),
                    **_status(self.table, "collected", ""),
                },
            )

    def subscriber_records(self, subscriber_id: str) -> dict[str, Any]:
        state = self.load(subscriber_id, "")
        weeks = {week: _stored_week(item) for week, item in _weeks(self.table, subscriber_id).items()}
        return export_records(state, weeks)


@dataclass
class MemoryWeeks:
    table: MemoryTable

    def _update(self, subscriber_id: str, week: str, **values: Any) -> None:
        self.table.update(sub_key(subscriber_id), week_key(week), **values)

    def _status(self, status: str, reason: str) -> dict[str, Any]:
        return _status(self.table, status, reason)

    def put_week(self, subscriber_id: str, week: str, report: WeeklyReport, spend: Spend) -> None:
        self._update(subscriber_id, week, report=report.model_dump(mode="json"), spend=spend.model_dump(mode="json"))

    def put_week_spend(self, subscriber_id: str, week: str, spend: Spend) -> None:
        self._update(subscriber_id, week, spend=spend.model_dump(mode="json"))

    def get_week_spend(self, subscriber_id: str, week: str) -> Spend | None:
        stored = self.stored_week(subscriber_id, week)
        return stored.spend if stored else None

    def mark_week(
        self, subscriber_id: str, week: str, status: str, reason: str = "", *, keep_earlier: bool = False
    ) -> None:
        with self.table.lock:
            stored = self.stored_week(subscriber_id, week)
            if keep_earlier and stored is not None and stored.status is not None:
                return
            self._update(subscriber_id, week, **self._status(status, reason))

    def stored_week(self, subscriber_id: str, week: str) -> StoredWeek | None:
        item = self.table.get(sub_key(subscriber_id), week_key(week))
        return _stored_week(item) if item is not None else None

    def week_status(self, subscriber_id: str, week: str) -> tuple[str, str] | None:
        stored = self.stored_week(subscriber_id, week)
        return None if stored is None or stored.status is None else (stored.status, stored.reason)

    def get_week(self, subscriber_id: str, week: str) -> tuple[WeeklyReport, Spend] | None:
        stored = self.stored_week(subscriber_id, week)
        return stored.report() if stored else None

    def recent_reports(self, subscriber_id: str, limit: int = 8, before_week: str | None = None) -> list[WeeklyReport]:
        return _previous(_weeks(self.table, subscriber_id), before_week, limit)

    def for_digest(self, subscriber_id: str, week: str) -> DigestState:
        weeks = _weeks(self.table, subscriber_id)
        return DigestState(
            MemorySubscribers(self.table).get_subscriber(subscriber_id),
            _stored_week(weeks[week]) if week in weeks else None,
            _previous(weeks, week, PREVIOUS_REPORTS),
        )

    def weeks_of(self, subscriber_id: str) -> list[str]:
        pk = sub_key(subscriber_id)
        return sorted(
            {sk.split("#", 1)[1] for prefix in ("WEEK#", "DIGEST#") for sk in self.table.sort_keys(pk, prefix)}
        )

    def put_digest(self, subscriber_id: str, week: str, raw_message: bytes) -> None:
        self.table.put(
            sub_key(subscriber_id),
            f"DIGEST#{week}",
            {"message": bytes(raw_message), "rendered_at": self.table.clock().isoformat()},
        )

    def get_digest(self, subscriber_id: str, week: str) -> bytes | None:
        item = self.table.get(sub_key(subscriber_id), f"DIGEST#{week}")
        return item["message"] if item else None

    def set_run_flag(self, week: str, flag: str, reason: str) -> None:
        self.table.put(f"RUN#{week}", f"FLAG#{flag}", {"reason": reason, "ttl": self.table.epoch() + 14 * 86400})

    def run_flag(self, week: str, flag: str) -> str | None:
        item = self.table.get(f"RUN#{week}", f"FLAG#{flag}")
        return str(item["reason"]) if item else None


@dataclass
class MemorySignups:
    table: MemoryTable

    def put_oauth_state(self, state_key: str, payload: str, *, expires_at: int) -> None:
        with self.table.lock:
            if self.table.get(f"OAUTH#{state_key}", "STATE") is not None:
                raise ConcurrentUpdate("this OAuth state exists")
            self.table.put(f"OAUTH#{state_key}", "STATE", {"payload": payload, "ttl": expires_at})

    def take_oauth_state(self, state_key: str) -> tuple[str, int] | None:
        with self.table.lock:
            old = self.table.delete(f"OAUTH#{state_key}", "STATE")
            return (old["payload"], old["ttl"]) if old else None

    def owner(self, kind: UniqueKind, value: str) -> str | None:
        item = self.table.live(unique_key(kind, value), "SUBSCRIBER")
        return str(item["subscriber_id"]) if item else None

    def claim(self, kind: UniqueKind, value: str, subscriber_id: str, *, expires_at: int | None = None) -> str:
        with self.table.lock:
            current = self.owner(kind, value)
            if current is not None and current != subscriber_id:
                return current
            item: dict[str, Any] = {"subscriber_id": subscriber_id}
            if expires_at is not None:
                item["ttl"] = expires_at
            self.table.put(unique_key(kind, value), "SUBSCRIBER", item)
            return subscriber_id

    def release(self, kind: UniqueKind, value: str, subscriber_id: str) -> None:
        with self.table.lock:
            item = self.table.get(unique_key(kind, value), "SUBSCRIBER")
            if item is not None and item["subscriber_id"] == subscriber_id:
                self.table.delete(unique_key(kind, value), "SUBSCRIBER")

    def take_confirmation_slot(self, email: str, *, cooldown_s: int, confirms: str) -> str | None:
        with self.table.lock:
            now = self.table.epoch()
            earlier = self.table.get(unique_key("EMAIL", email), "CONFIRMATION")
            if earlier is not None and earlier["ttl"] > now:
                return str(earlier["confirms"])
            self.table.put(
                unique_key("EMAIL", email),
                "CONFIRMATION",
                {"sent_at": now, "confirms": confirms, "ttl": now + cooldown_s},
            )
            return None

    def forget_confirmation_slot(self, email: str) -> None:
        self.table.delete(unique_key("EMAIL", email), "CONFIRMATION")

    def count_signup_email(self, limited: str, *, window_s: int, limit: int) -> bool:
        with self.table.lock:
            window = self.table.epoch() // window_s
            key = (f"LIMIT#{limited}", f"SIGNUPEMAILS#{window}")
            sent = (self.table.get(*key) or {}).get("sent", 0)
            if sent >= limit:
                return False
            self.table.put(*key, {"sent": sent + 1, "ttl": (window + 1) * window_s})
            return True

    def put_pending_change(self, subscriber_id: str, payload: str, ciphertext: bytes, *, expires_at: int) -> None:
        self.table.put(
            sub_key(subscriber_id), "PENDING", {"payload": payload, "ciphertext": bytes(ciphertext), "ttl": expires_at}
        )

    def get_pending_change(self, subscriber_id: str) -> tuple[str, bytes] | None:
        item = self.table.live(sub_key(subscriber_id), "PENDING")
        return (item["payload"], item["ciphertext"]) if item else None

    def delete_pending_change(self, subscriber_id: str) -> None:
        self.table.delete(sub_key(subscriber_id), "PENDING")


@dataclass
class MemorySuppression:
    table: MemoryTable

    def suppress(self, email: str, reason: str) -> None:
        self.table.put(suppressed_key(email), "SUPPRESSED", {"reason": reason, "at": self.table.clock().isoformat()})

    def is_suppressed(self, email: str) -> bool:
        return self.table.get(suppressed_key(email), "SUPPRESSED") is not None


@dataclass
class MemoryPostReads:
    table: MemoryTable

    def post_reads(self, cycle: str) -> PostReads:
        item = self.table.get(*post_reads_key(cycle)) or {}
        return PostReads(item.get("reserved", 0), item.get("read", 0), item.get("capped"))

    def _add(self, cycle: str, **deltas: int) -> None:
        key = post_reads_key(cycle)
        item = self.table.get(*key) or {}
        for name, delta in deltas.items():
            item[name] = item.get(name, 0) + delta
        self.table.put(*key, {**item, "ttl": self.table.epoch() + POST_READS_KEPT_S})

    def reserve_post_reads(self, cycle: str, posts: int, *, limit: int) -> bool:
        with self.table.lock:
            now = self.post_reads(cycle)
            if now.capped is not None or now.reserved + posts > limit:
                return False
            self._add(cycle, reserved=posts)
            return True

    def settle_post_reads(self, cycle: str, reserved: int, read: int) -> PostReads:
        with self.table.lock:
            self._add(cycle, reserved=read - reserved, read=read)
            return self.post_reads(cycle)

    def mark_post_cap_reached(self, cycle: str, reason: str) -> bool:
        with self.table.lock:
            key = post_reads_key(cycle)
            item = self.table.get(*key) or {}
            if item.get("capped") is not None:
                return False
            self.table.put(*key, {**item, "capped": reason, "ttl": self.table.epoch() + POST_READS_KEPT_S})
            return True


@dataclass
class MemoryActivity:
    table: MemoryTable

    def put_event(self, subscriber_id: str, event: FollowEvent, *, expires_at: int) -> bool:
        with self.table.lock:
            if self.table.get(sub_key(subscriber_id), event_key(event.event_id)) is not None:
                return False
            self.table.put(sub_key(subscriber_id), event_key(event.event_id), {"event": event, "ttl": expires_at})
            return True

    def follow_events(self, subscriber_id: str) -> list[FollowEvent]:
        now = self.table.epoch()
        return in_order(
            item["event"] for _, item in self.table.partition(sub_key(subscriber_id), "XEVENT#") if item["ttl"] >= now
        )

    def reserve_subscriptions(self, count: int, *, limit: int) -> bool:
        with self.table.lock:
            held = self.subscriptions_held()
            if held + count > limit:
                return False
            self.table.put(APP_KEY, "XAACOUNT", {"held": held + count})
            return True

    def release_subscriptions(self, count: int) -> None:
        with self.table.lock:
            held = self.subscriptions_held()
            if held >= count:  # never below zero: a release of what was never counted changes nothing
                self.table.put(APP_KEY, "XAACOUNT", {"held": held - count})

    def subscriptions_held(self) -> int:
        return int((self.table.get(APP_KEY, "XAACOUNT") or {}).get("held", 0))

    def put_subscriptions(self, owner: str | None, subscriptions: StoredSubscriptions) -> None:
        self.table.put(subscriptions_key(owner), "XAA", {"subscriptions": subscriptions})

    def get_subscriptions(self, owner: str | None) -> StoredSubscriptions | None:
        item = self.table.get(subscriptions_key(owner), "XAA")
        return item["subscriptions"] if item else None

    def delete_subscriptions(self, owner: str | None) -> None:
        self.table.delete(subscriptions_key(owner), "XAA")


def memory_repositories(clock: Clock) -> Repositories:
    """Twins of ``dynamo_repositories``, sharing one in-memory table."""
    table = MemoryTable(clock)
    return Repositories(
        subscribers=MemorySubscribers(table),
        tokens=MemoryTokens(table),
        collector_state=MemoryCollectorState(table),
        weeks=MemoryWeeks(table),
        signups=MemorySignups(table),
        suppression=MemorySuppression(table),
        post_reads=MemoryPostReads(table),
        activity=MemoryActivity(table),
    )
