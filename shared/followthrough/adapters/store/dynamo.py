"""The repositories on DynamoDB: the only module that reads or writes the table.

One table, generic ``pk``/``sk`` keys (see docs/decisions.md):

| pk | sk | what |
| --- | --- | --- |
| ``SUB#<id>`` | ``PROFILE`` | the subscriber; ``gsi1pk = DUE#<weekday>#<hour>`` only while they receive digests |
| ``SUB#<id>`` | ``TOKEN`` | encrypted X tokens, versioned for conditional writes |
| ``SUB#<id>`` | ``CURSORS`` | the collector's cursors |
| ``SUB#<id>`` | ``GRAPH#following#<n>`` / ``GRAPH#followers#<n>`` | known follow edges, gzip JSON chunks |
| ``SUB#<id>`` | ``RECENT`` | recent activity (no DM text), gzip JSON |
| ``SUB#<id>`` | ``DMCONVERSATIONS`` | DM conversations seen before (id -> first message), gzip JSON |
| ``SUB#<id>`` | ``FOLLOWEE#<user id>`` | last interaction with a followee (the ledger) |
| ``SUB#<id>`` | ``WEEK#<yyyy-Www>`` | the weekly report and the X spend |
| ``SUB#<id>`` | ``DIGEST#<yyyy-Www>`` | the rendered digest and its send state |
| ``SUB#<id>`` | ``PENDING`` | a sign-up change waiting for the email confirmation (TTL) |
| ``XUSER#<id>`` / ``EMAIL#<address>`` | ``SUBSCRIBER`` | uniqueness: which subscriber owns this X account / address |
| ``EMAIL#<mailbox>`` | ``CONFIRMATION`` | when the last sign-up email to this mailbox went out (cooldown, TTL) |
| ``LIMIT#<sha256>`` | ``SIGNUPEMAILS#<window>`` | sign-up emails per X account, mailbox or client in a window (TTL) |
| ``OAUTH#<sha256 of state>`` | ``STATE`` | a sign-up between the form and X's callback: PKCE verifier, choices (TTL) |
| ``SUPPRESSED#<address>`` | ``SUPPRESSED`` | bounced or complained addresses |
| ``RUN#<yyyy-Www>`` | ``FLAG#<flag>`` | a fact about a week's whole run (TTL) |
| ``XAPP`` | ``POSTREADS#<cycle start>`` | the app's Post reads this billing cycle: reserved, read, capped (TTL) |
| ``SUB#<id>`` | ``XEVENT#<event uuid>`` | an X Activity API follow event, kept once by its id (TTL) |
| ``SUB#<id>`` / ``APP`` | ``XAA`` | X Activity API subscriptions held for the subscriber / the app |
| ``APP`` | ``XAACOUNT`` | how many Activity API subscriptions the app holds (its allowance) |

A collect reads the subscriber's partition in one query (``CollectorState``)
and writes it back with BatchWriteItem; the writes whose correctness depends
on what is there (claims, leases, versions, dispatch) stay conditional.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from followthrough.activity import Activity
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
    GRAPH_CHUNK,
    KEPT_ON_NEW_ACCOUNT,
    POST_READS_KEPT_S,
    ConcurrentUpdate,
    Table,
    UniqueKind,
    event_key,
    graph_prefix,
    pack,
    post_reads_key,
    raw_bytes,
    sub_key,
    subscriptions_key,
    suppressed_key,
    unique_key,
    unpack,
    week_key,
)
from followthrough.analysis.models import Interaction
from followthrough.cursors import Cursors, Spend
from followthrough.follow_events import FollowEvent, in_order
from followthrough.report import WeeklyReport
from followthrough.subscriber import Subscriber


def _epoch(clock: Clock) -> int:
    return int(clock().timestamp())


def _subscriber(item: dict[str, Any]) -> Subscriber:
    return Subscriber.model_validate(
        {k: v for k, v in item.items() if k not in {"pk", "sk", "gsi1pk", "gsi1sk", "ttl"}}
    )


def _tokens(item: dict[str, Any]) -> StoredTokens:
    return StoredTokens(raw_bytes(item["ciphertext"]), float(item["expires_at"]), int(item["version"]))


def _week(item: dict[str, Any]) -> StoredWeek:
    return StoredWeek(
        status=str(item["status"]) if "status" in item else None,
        reason=str(item.get("reason", "")),
        report_json=unpack(item["report"]) if "report" in item else None,
        spend=Spend.model_validate_json(item["spend"]) if "spend" in item else None,
    )


def _previous(weeks: dict[str, dict[str, Any]], before_week: str | None, limit: int) -> list[WeeklyReport]:
    """Up to ``limit`` reports of the WEEK items (by week), before ``before_week``, oldest first."""
    chosen = reported_weeks([w for w, item in weeks.items() if "report" in item], before_week, limit)
    return [WeeklyReport.model_validate(unpack(weeks[w]["report"])) for w in chosen]


@dataclass
class DynamoSubscribers:
    table: Table
    clock: Clock

    def _key(self, subscriber_id: str) -> dict[str, str]:
        return {"pk": sub_key(subscriber_id), "sk": "PROFILE"}

    def _item(self, subscriber: Subscriber) -> dict[str, Any]:
        return {**self._key(subscriber.subscriber_id), **json.loads(subscriber.model_dump_json())}

    def put_subscriber(
        self, subscriber: Subscriber, *, reference: datetime | None = None, forget_at: int | None = None
    ) -> None:
        item = self._item(subscriber)
        if forget_at is not None:
            item["ttl"] = forget_at
        if subscriber.receives_digest:
            item["gsi1pk"] = subscriber.due_slot(reference or self.clock())
            item["gsi1sk"] = subscriber.subscriber_id
        self.table.resource.put_item(Item=item)

    def put_new_subscriber(self, subscriber: Subscriber, *, expires_at: int) -> None:
        refused = self.table.write_if(
            "put_item", Item={**self._item(subscriber), "ttl": expires_at}, ConditionExpression=Attr("pk").not_exists()
        )
        if refused is not None:
            raise ConcurrentUpdate(f"subscriber {subscriber.subscriber_id} exists")

    def get_subscriber(self, subscriber_id: str) -> Subscriber | None:
        item = self.table.get(sub_key(subscriber_id), "PROFILE")
        return _subscriber(item) if item else None

    def due_subscribers(self, slot: str) -> Iterator[Subscriber]:
        """A query of the sparse ``due`` index, never a scan."""
        for item in self.table.query(IndexName="due", KeyConditionExpression=Key("gsi1pk").eq(slot)):
            yield _subscriber(item)

    def claim_dispatch(self, subscriber_id: str, week: str, next_slot: str | None) -> bool:
        update = "SET last_dispatched_week = :w"
        values: dict[str, Any] = {":w": week}
        if next_slot:
            update += ", gsi1pk = :slot"
            values[":slot"] = next_slot
        return (
            self.table.write_if(
                "update_item",
                Key=self._key(subscriber_id),
                UpdateExpression=update,
                ConditionExpression=Attr("pk").exists()
                & (Attr("last_dispatched_week").not_exists() | Attr("last_dispatched_week").ne(week)),
                ExpressionAttributeValues=values,
            )
            is None
        )

    def update_subscriber(self, subscriber_id: str, *, current: Subscriber | None = None, **fields: Any) -> None:
        """The due index follows whether they receive digests; if what decides that changed between
        the read and the write, the write is refused and done again on a fresh read."""
        for _ in range(5):
            if current is None:
                current = self.get_subscriber(subscriber_id)
            if current is None:
                raise KeyError(subscriber_id)
            updated = current.model_copy(update=fields)
            values = json.loads(updated.model_dump_json(include=set(fields)))
            # not #n…/:v…: boto3's condition builder numbers its own placeholders with those
            names = {f"#field{n}": name for n, name in enumerate(values)}
            expression_values = {f":value{n}": value for n, value in enumerate(values.values())}
            update = "SET " + ", ".join(f"#field{n} = :value{n}" for n in range(len(values)))
            if updated.receives_digest and not current.receives_digest:
                update += ", gsi1pk = :slot, gsi1sk = :sid"
                expression_values |= {":slot": updated.due_slot(self.clock()), ":sid": subscriber_id}
            elif current.receives_digest and not updated.receives_digest:
                update += " REMOVE gsi1pk, gsi1sk"
            condition = Attr("pk").exists()
            for name in ("status", "email_confirmed", "suppressed"):
                condition &= Attr(name).eq(getattr(current, name))
            if (
                self.table.write_if(
                    "update_item",
                    Key=self._key(subscriber_id),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=expression_values,
                )
                is None
            ):
                return
            current = None
        raise ConcurrentUpdate(f"the profile of {subscriber_id} kept changing")

    def forget_history(self, subscriber_id: str) -> int:
        return self._delete(subscriber_id, keep=KEPT_ON_NEW_ACCOUNT)

    def delete_everything(self, subscriber_id: str) -> int:
        return self._delete(subscriber_id, keep=frozenset())

    def _delete(self, subscriber_id: str, *, keep: frozenset[str]) -> int:
        keys = [
            {"pk": i["pk"], "sk": i["sk"]}
            for i in self.table.partition(sub_key(subscriber_id), keys_only=True)
            if i["sk"] not in keep
        ]
        self.table.write_all([], keys)
        return len(keys)


@dataclass
class DynamoTokens:
    table: Table
    clock: Clock

    @staticmethod
    def _key(subscriber_id: str) -> dict[str, str]:
        return {"pk": sub_key(subscriber_id), "sk": "TOKEN"}

    def get_tokens(self, subscriber_id: str) -> StoredTokens | None:
        item = self.table.get(sub_key(subscriber_id), "TOKEN")
        return _tokens(item) if item else None

    def put_tokens(
        self,
        subscriber_id: str,
        ciphertext: bytes,
        expires_at: float,
        *,
        expected_version: int | None,
        forget_at: int | None = None,
    ) -> int:
        version = (expected_version or 0) + 1
        condition = Attr("pk").not_exists() if expected_version is None else Attr("version").eq(expected_version)
        item: dict[str, Any] = {
            **self._key(subscriber_id),
            "ciphertext": ciphertext,
            "expires_at": str(expires_at),
            "version": version,
        }
        if forget_at is not None:
            item["ttl"] = forget_at
        if self.table.write_if("put_item", Item=item, ConditionExpression=condition) is not None:
            raise ConcurrentUpdate(f"tokens of {subscriber_id} changed concurrently")
        return version

    def keep_tokens(self, subscriber_id: str) -> None:
        self.table.write_if(
            "update_item",
            Key=self._key(subscriber_id),
            UpdateExpression="REMOVE #ttl",
            ConditionExpression=Attr("pk").exists(),
            ExpressionAttributeNames={"#ttl": "ttl"},
        )

    def take_token_lease(self, subscriber_id: str, version: int, now: float, lease_s: int) -> bool:
        return (
            self.table.write_if(
                "update_item",
                Key=self._key(subscriber_id),
                UpdateExpression="SET lease_until = :until",
                ConditionExpression=Attr("version").eq(version)
                & (Attr("lease_until").not_exists() | Attr("lease_until").lt(int(now))),
                ExpressionAttributeValues={":until": int(now) + lease_s},
            )
            is None
        )

    def release_token_lease(self, subscriber_id: str, version: int) -> None:
        # refused when the tokens moved on meanwhile: that version's lease no longer matters
        self.table.write_if(
            "update_item",
            Key=self._key(subscriber_id),
            UpdateExpression="REMOVE lease_until",
            ConditionExpression=Attr("version").eq(version),
        )


@dataclass
class DynamoCollectorState:
    table: Table
    clock: Clock

    def load(self, subscriber_id: str, week: str) -> CollectorState:
        state, weeks = self._read(subscriber_id)
        state.week = _week(weeks[week]) if week in weeks else None
        state.previous_reports = _previous(weeks, week, PREVIOUS_REPORTS)
        state.sent_weeks = sent_weeks(weeks, (r.week for r in state.previous_reports))
        return state

    def _read(self, subscriber_id: str) -> tuple[CollectorState, dict[str, dict[str, Any]]]:
        """The partition as a ``CollectorState`` (its week not chosen yet) and the ``WEEK#`` items by week.

        One query; the rendered digests (``message``) are the only items it never needs (a filter may not
        name the key attributes)."""
        items = self.table.partition(sub_key(subscriber_id), FilterExpression=Attr("message").not_exists())
        state = CollectorState(subscriber=None, tokens=None, week=None)
        weeks: dict[str, dict[str, Any]] = {}
        chunks: dict[str, list[str]] = {which: [] for which in FOLLOW_LISTS}
        for item in items:
            sk = str(item["sk"])
            kind, _, rest = sk.partition("#")
            if sk == "PROFILE":
                state.subscriber = _subscriber(item)
            elif sk == "TOKEN":
                state.tokens = _tokens(item)
            elif sk == "CURSORS":
                state.cursors = Cursors.model_validate(unpack(item["blob"]))
            elif sk == "RECENT":
                state.recent = Activity.model_validate(unpack(item["blob"]))
            elif sk == "DMCONVERSATIONS":
                state.dm_conversations = {k: datetime.fromisoformat(v) for k, v in unpack(item["blob"]).items()}
            elif kind == "GRAPH":
                which = rest.partition("#")[0]
                state.graphs[which].update(unpack(item["blob"]))
                chunks[which].append(sk)
            elif kind == "FOLLOWEE":
                state.ledger[rest] = Interaction(at=item["at"], kind=item["kind"])
            elif kind == "WEEK":
                weeks[rest] = item
        state.stored_graphs = chunks
        return state, weeks

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
        puts: list[dict[str, Any]] = [{"pk": pk, "sk": "CURSORS", "blob": pack(state.cursors.model_dump(mode="json"))}]
        deletes: list[dict[str, Any]] = []
        if state.recent is not None:
            puts.append({"pk": pk, "sk": "RECENT", "blob": pack(state.recent.model_dump(mode="json"))})
        for which in graphs:
            edges = state.graphs[which]
            ids = list(edges)
            written = []
            for n, start in enumerate(range(0, max(len(ids), 1), GRAPH_CHUNK)):
                sk = f"{graph_prefix(which)}{n:04d}"
                written.append(sk)
                puts.append({"pk": pk, "sk": sk, "blob": pack({i: edges[i] for i in ids[start : start + GRAPH_CHUNK]})})
            deletes += [{"pk": pk, "sk": sk} for sk in state.stored_graphs.get(which, []) if sk not in written]
            state.stored_graphs[which] = written
        for user_id, interaction in (ledger_updates or {}).items():
            puts.append(
                {"pk": pk, "sk": f"FOLLOWEE#{user_id}", "at": interaction.at.isoformat(), "kind": interaction.kind}
            )
            state.ledger[user_id] = interaction
        if dm_conversation_updates:
            state.dm_conversations.update(dm_conversation_updates)
            puts.append(
                {
                    "pk": pk,
                    "sk": "DMCONVERSATIONS",
                    "blob": pack({k: v.isoformat() for k, v in state.dm_conversations.items()}),
                }
            )
        if collected is not None:
            # the record whole (every attribute a WEEK item has), in the same batch: no write of its own
            puts.append(
                {
                    "pk": pk,
                    "sk": week_key(collected.week),
                    "report": pack(collected.report.model_dump(mode="json")),
                    **DynamoWeeks.spend_attributes(collected.spend),
                    **DynamoWeeks.status_attributes("collected", "", self.clock()),
                }
            )
        self.table.write_all(puts, deletes)

    def subscriber_records(self, subscriber_id: str) -> dict[str, Any]:
        state, weeks = self._read(subscriber_id)
        return export_records(state, {week: _week(item) for week, item in weeks.items()})


@dataclass
class DynamoWeeks:
    table: Table
    clock: Clock

    @staticmethod
    def _key(subscriber_id: str, week: str) -> dict[str, str]:
        return {"pk": sub_key(subscriber_id), "sk": week_key(week)}

    def _set(self, subscriber_id: str, week: str, values: dict[str, Any], condition: Any = None) -> None:
        names = {f"#a{n}": name for n, name in enumerate(values)}
        kwargs: dict[str, Any] = {} if condition is None else {"ConditionExpression": condition}
        self.table.write_if(
            "update_item",
            Key=self._key(subscriber_id, week),
            UpdateExpression="SET " + ", ".join(f"#a{n} = :a{n}" for n in range(len(values))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":a{n}": v for n, v in enumerate(values.values())},
            **kwargs,
        )

    @staticmethod
    def spend_attributes(spend: Spend) -> dict[str, Any]:
        return {"spend": spend.model_dump_json(), "spend_usd": str(spend.total_usd)}

    @staticmethod
    def status_attributes(status: str, reason: str, at: datetime) -> dict[str, Any]:
        return {"status": status, "reason": reason, "status_at": at.isoformat()}

    def _status(self, status: str, reason: str) -> dict[str, Any]:
        return self.status_attributes(status, reason, self.clock())

    def put_week(self, subscriber_id: str, week: str, report: WeeklyReport, spend: Spend) -> None:
        self._set(subscriber_id, week, {"report": pack(report.model_dump(mode="json")), **self.spend_attributes(spend)})

    def put_week_spend(self, subscriber_id: str, week: str, spend: Spend) -> None:
        self._set(subscriber_id, week, self.spend_attributes(spend))

    def get_week_spend(self, subscriber_id: str, week: str) -> Spend | None:
        stored = self.stored_week(subscriber_id, week)
        return stored.spend if stored else None

    def mark_week(
        self, subscriber_id: str, week: str, status: str, reason: str = "", *, keep_earlier: bool = False
    ) -> None:
        """``keep_earlier``: a redelivered message must not replace "needs_reauth: X refused …" with
        the vaguer "not receiving digests" that the first attempt caused."""
        self._set(
            subscriber_id, week, self._status(status, reason), Attr("status").not_exists() if keep_earlier else None
        )

    def stored_week(self, subscriber_id: str, week: str) -> StoredWeek | None:
        item = self.table.get(sub_key(subscriber_id), week_key(week))
        return _week(item) if item else None

    def week_status(self, subscriber_id: str, week: str) -> tuple[str, str] | None:
        stored = self.stored_week(subscriber_id, week)
        return None if stored is None or stored.status is None else (stored.status, stored.reason)

    def get_week(self, subscriber_id: str, week: str) -> tuple[WeeklyReport, Spend] | None:
        stored = self.stored_week(subscriber_id, week)
        return stored.report() if stored else None

    def recent_reports(self, subscriber_id: str, limit: int = 8, before_week: str | None = None) -> list[WeeklyReport]:
        condition = Key("pk").eq(sub_key(subscriber_id))
        condition &= (
            Key("sk").between("WEEK#", week_key(before_week)) if before_week else Key("sk").begins_with("WEEK#")
        )
        reports: list[WeeklyReport] = []
        for item in self.table.query(
            KeyConditionExpression=condition,
            ScanIndexForward=False,
            FilterExpression=Attr("report").exists(),
            ConsistentRead=True,
        ):
            if len(reports) == limit:
                break
            if item["sk"] != week_key(before_week or ""):
                reports.append(WeeklyReport.model_validate(unpack(item["report"])))
        return list(reversed(reports))

    def for_digest(self, subscriber_id: str, week: str) -> DigestState:
        # PROFILE < RECENT < TOKEN < WEEK#…: one range; recent activity (``blob``) and tokens filtered out
        items = self.table.query(
            KeyConditionExpression=Key("pk").eq(sub_key(subscriber_id)) & Key("sk").between("PROFILE", "WEEK#~"),
            FilterExpression=Attr("blob").not_exists() & Attr("ciphertext").not_exists(),
            ConsistentRead=True,
        )
        subscriber = None
        weeks: dict[str, dict[str, Any]] = {}
        for item in items:
            if item["sk"] == "PROFILE":
                subscriber = _subscriber(item)
            elif str(item["sk"]).startswith("WEEK#"):
                weeks[str(item["sk"]).removeprefix("WEEK#")] = item
        return DigestState(
            subscriber, _week(weeks[week]) if week in weeks else None, _previous(weeks, week, PREVIOUS_REPORTS)
        )

    def weeks_of(self, subscriber_id: str) -> list[str]:
        weeks = {
            str(item["sk"]).split("#", 1)[1]
            for prefix in ("WEEK#", "DIGEST#")
            for item in self.table.partition(sub_key(subscriber_id), prefix, keys_only=True)
        }
        return sorted(weeks)

    def put_digest(self, subscriber_id: str, week: str, raw_message: bytes) -> None:
        """Keep the rendered message before sending, so what was sent can always be shown."""
        self.table.resource.put_item(
            Item={
                "pk": sub_key(subscriber_id),
                "sk": f"DIGEST#{week}",
                "message": gzip.compress(raw_message),
                "rendered_at": self.clock().isoformat(),
            }
        )

    def get_digest(self, subscriber_id: str, week: str) -> bytes | None:
        item = self.table.get(sub_key(subscriber_id), f"DIGEST#{week}")
        return gzip.decompress(raw_bytes(item["message"])) if item else None

    def set_run_flag(self, week: str, flag: str, reason: str) -> None:
        self.table.resource.put_item(
            Item={"pk": f"RUN#{week}", "sk": f"FLAG#{flag}", "reason": reason, "ttl": _epoch(self.clock) + 14 * 86400}
        )

    def run_flag(self, week: str, flag: str) -> str | None:
        item = self.table.get(f"RUN#{week}", f"FLAG#{flag}")
        return str(item["reason"]) if item else None


@dataclass
class DynamoSignups:
    table: Table
    clock: Clock

    def put_oauth_state(self, state_key: str, payload: str, *, expires_at: int) -> None:
        refused = self.table.write_if(
            "put_item",
            Item={"pk": f"OAUTH#{state_key}", "sk": "STATE", "payload": payload, "ttl": expires_at},
            ConditionExpression=Attr("pk").not_exists(),
        )
        if refused is not None:
            raise ConcurrentUpdate("this OAuth state exists")

    def take_oauth_state(self, state_key: str) -> tuple[str, int] | None:
        old = self.table.resource.delete_item(
            Key={"pk": f"OAUTH#{state_key}", "sk": "STATE"}, ReturnValues="ALL_OLD"
        ).get("Attributes")
        return (str(old["payload"]), int(old["ttl"])) if old else None

    def owner(self, kind: UniqueKind, value: str) -> str | None:
        item = self.table.get(unique_key(kind, value), "SUBSCRIBER")
        if not item or ("ttl" in item and int(item["ttl"]) < _epoch(self.clock)):
            return None
        return str(item["subscriber_id"])

    def claim(self, kind: UniqueKind, value: str, subscriber_id: str, *, expires_at: int | None = None) -> str:
        """A claim whose ``ttl`` has passed counts as free (DynamoDB deletes expired items late)."""
        item: dict[str, Any] = {"pk": unique_key(kind, value), "sk": "SUBSCRIBER", "subscriber_id": subscriber_id}
        if expires_at is not None:
            item["ttl"] = expires_at
        for _ in range(3):
            refused = self.table.write_if(
                "put_item",
                Item=item,
                ConditionExpression=Attr("pk").not_exists()
                | Attr("subscriber_id").eq(subscriber_id)
                | Attr("ttl").lt(_epoch(self.clock)),
            )
            if refused is None:
                return subscriber_id
            current = self.owner(kind, value)
            if current is not None:
                return current
            # released between the write and the read: try again
        raise ConcurrentUpdate(f"{kind} ownership kept changing")

    def release(self, kind: UniqueKind, value: str, subscriber_id: str) -> None:
        self.table.write_if(
            "delete_item",
            Key={"pk": unique_key(kind, value), "sk": "SUBSCRIBER"},
            ConditionExpression=Attr("subscriber_id").eq(subscriber_id),
        )

    def take_confirmation_slot(self, email: str, *, cooldown_s: int, confirms: str) -> str | None:
        now = _epoch(self.clock)
        refused = self.table.write_if(
            "put_item",
            Item={
                "pk": unique_key("EMAIL", email),
                "sk": "CONFIRMATION",
                "sent_at": now,
                "confirms": confirms,
                "ttl": now + cooldown_s,
            },
            ConditionExpression=Attr("pk").not_exists() | Attr("ttl").lte(now),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return None if refused is None else str(refused.old.get("confirms", ""))

    def forget_confirmation_slot(self, email: str) -> None:
        self.table.resource.delete_item(Key={"pk": unique_key("EMAIL", email), "sk": "CONFIRMATION"})

    def count_signup_email(self, limited: str, *, window_s: int, limit: int) -> bool:
        window = _epoch(self.clock) // window_s
        return (
            self.table.write_if(
                "update_item",
                Key={"pk": f"LIMIT#{limited}", "sk": f"SIGNUPEMAILS#{window}"},
                UpdateExpression="ADD sent :one SET #ttl = :ttl",
                ConditionExpression=Attr("sent").not_exists() | Attr("sent").lt(limit),
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":one": 1, ":ttl": (window + 1) * window_s},
            )
            is None
        )

    def put_pending_change(self, subscriber_id: str, payload: str, ciphertext: bytes, *, expires_at: int) -> None:
        self.table.resource.put_item(
            Item={
                "pk": sub_key(subscriber_id),
                "sk": "PENDING",
                "payload": payload,
                "ciphertext": ciphertext,
                "ttl": expires_at,
            }
        )

    def get_pending_change(self, subscriber_id: str) -> tuple[str, bytes] | None:
        item = self.table.get(sub_key(subscriber_id), "PENDING")
        if not item or int(item["ttl"]) < _epoch(self.clock):
            return None
        return str(item["payload"]), raw_bytes(item["ciphertext"])

    def delete_pending_change(self, subscriber_id: str) -> None:
        self.table.resource.delete_item(Key={"pk": sub_key(subscriber_id), "sk": "PENDING"})


@dataclass
class DynamoSuppression:
    table: Table
    clock: Clock

    def suppress(self, email: str, reason: str) -> None:
        self.table.resource.put_item(
            Item={"pk": suppressed_key(email), "sk": "SUPPRESSED", "reason": reason, "at": self.clock().isoformat()}
        )

    def is_suppressed(self, email: str) -> bool:
        return self.table.get(suppressed_key(email), "SUPPRESSED", consistent=False) is not None


def _post_reads(item: dict[str, Any]) -> PostReads:
    capped = item.get("capped")
    return PostReads(int(item.get("reserved", 0)), int(item.get("read", 0)), str(capped) if capped else None)


@dataclass
class DynamoPostReads:
    table: Table
    clock: Clock

    def post_reads(self, cycle: str) -> PostReads:
        return _post_reads(self.table.get(*post_reads_key(cycle)) or {})

    def reserve_post_reads(self, cycle: str, posts: int, *, limit: int) -> bool:
        if posts > limit:
            return False
        pk, sk = post_reads_key(cycle)
        # no arithmetic in a condition: "reserved + posts <= limit" is written "reserved <= limit - posts"
        refused = self.table.write_if(
            "update_item",
            Key={"pk": pk, "sk": sk},
            UpdateExpression="ADD #reserved :posts SET #ttl = :ttl",
            ConditionExpression=(Attr("reserved").not_exists() | Attr("reserved").lte(limit - posts))
            & Attr("capped").not_exists(),
            ExpressionAttributeNames={"#reserved": "reserved", "#ttl": "ttl"},
            ExpressionAttributeValues={":posts": posts, ":ttl": _epoch(self.clock) + POST_READS_KEPT_S},
        )
        return refused is None

    def settle_post_reads(self, cycle: str, reserved: int, read: int) -> PostReads:
        pk, sk = post_reads_key(cycle)
        after = self.table.resource.update_item(
            Key={"pk": pk, "sk": sk},
            UpdateExpression="ADD #reserved :delta, #read :read SET #ttl = :ttl",
            ExpressionAttributeNames={"#reserved": "reserved", "#read": "read", "#ttl": "ttl"},
            ExpressionAttributeValues={
                ":delta": read - reserved,
                ":read": read,
                ":ttl": _epoch(self.clock) + POST_READS_KEPT_S,
            },
            ReturnValues="ALL_NEW",
        )
        return _post_reads(after.get("Attributes", {}))

    def mark_post_cap_reached(self, cycle: str, reason: str) -> bool:
        pk, sk = post_reads_key(cycle)
        refused = self.table.write_if(
            "update_item",
            Key={"pk": pk, "sk": sk},
            UpdateExpression="SET #capped = :reason, #ttl = :ttl",
            ConditionExpression=Attr("capped").not_exists(),
            ExpressionAttributeNames={"#capped": "capped", "#ttl": "ttl"},
            ExpressionAttributeValues={":reason": reason, ":ttl": _epoch(self.clock) + POST_READS_KEPT_S},
        )
        return refused is None


@dataclass
class DynamoActivity:
    table: Table
    clock: Clock

    def put_event(self, subscriber_id: str, event: FollowEvent, *, expires_at: int) -> bool:
        item = {
            "pk": sub_key(subscriber_id),
            "sk": event_key(event.event_id),
            "event": event.model_dump_json(),
            "ttl": expires_at,
        }
        return self.table.write_if("put_item", Item=item, ConditionExpression=Attr("pk").not_exists()) is None

    def follow_events(self, subscriber_id: str) -> list[FollowEvent]:
        now = _epoch(self.clock)
        return in_order(
            FollowEvent.model_validate_json(item["event"])
            for item in self.table.partition(sub_key(subscriber_id), "XEVENT#")
            if int(item["ttl"]) >= now
        )

    def reserve_subscriptions(self, count: int, *, limit: int) -> bool:
        return (
            self.table.write_if(
                "update_item",
                Key={"pk": APP_KEY, "sk": "XAACOUNT"},
                UpdateExpression="ADD held :n",
                ConditionExpression=Attr("held").not_exists() | Attr("held").lte(limit - count),
                ExpressionAttributeValues={":n": count},
            )
            is None
        )

    def release_subscriptions(self, count: int) -> None:
        self.table.write_if(
            "update_item",
            Key={"pk": APP_KEY, "sk": "XAACOUNT"},
            UpdateExpression="ADD held :n",
            ConditionExpression=Attr("held").gte(count),
            ExpressionAttributeValues={":n": -count},
        )

    def subscriptions_held(self) -> int:
        item = self.table.get(APP_KEY, "XAACOUNT")
        return int(item["held"]) if item else 0

    def put_subscriptions(self, owner: str | None, subscriptions: StoredSubscriptions) -> None:
        item: dict[str, Any] = {"pk": subscriptions_key(owner), "sk": "XAA", "ids": dict(subscriptions.ids)}
        if subscriptions.x_user_id is not None:
            item["x_user_id"] = subscriptions.x_user_id
        self.table.resource.put_item(Item=item)

    def get_subscriptions(self, owner: str | None) -> StoredSubscriptions | None:
        item = self.table.get(subscriptions_key(owner), "XAA")
        if not item:
            return None
        return StoredSubscriptions(item.get("x_user_id"), {str(k): str(v) for k, v in item["ids"].items()})

    def delete_subscriptions(self, owner: str | None) -> None:
        self.table.resource.delete_item(Key={"pk": subscriptions_key(owner), "sk": "XAA"})


def dynamo_repositories(table_name: str, clock: Clock) -> Repositories:
    """The repositories of one table; its boto3 resource is made on first use, shared by all."""
    table = Table(table_name)
    return Repositories(
        subscribers=DynamoSubscribers(table, clock),
        tokens=DynamoTokens(table, clock),
        collector_state=DynamoCollectorState(table, clock),
        weeks=DynamoWeeks(table, clock),
        signups=DynamoSignups(table, clock),
        suppression=DynamoSuppression(table, clock),
        post_reads=DynamoPostReads(table, clock),
        activity=DynamoActivity(table, clock),
    )
