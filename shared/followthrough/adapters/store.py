"""DynamoDB: the only module that reads or writes the table.

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
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.config import Config
from botocore.exceptions import ClientError

from followthrough.activity import Activity
from followthrough.analysis.models import Interaction
from followthrough.cursors import Cursors, Spend
from followthrough.report import WeeklyReport
from followthrough.subscriber import Subscriber

# user id -> [ISO time the edge was first seen (None: before the first collection), username]
Graph = dict[str, list[str | None]]

# Throttling is retried here, with backoff, rather than by redelivering the
# whole message: a collect that has read from X must not have to read it again.
RETRIES = Config(retries={"mode": "standard", "max_attempts": 8})

GRAPH_CHUNK = 12_000  # follow edges per item, well under DynamoDB's 400 KB item limit once gzipped


def _sub(subscriber_id: str) -> str:
    return f"SUB#{subscriber_id}"


UniqueKind = Literal["XUSER", "EMAIL"]


def _unique(kind: UniqueKind, value: str) -> str:
    # addresses compare case-insensitively, as the suppression list does
    return f"{kind}#{value.lower() if kind == 'EMAIL' else value}"


def _epoch() -> int:
    return int(datetime.now(UTC).timestamp())


def _pack(value: Any) -> bytes:
    return gzip.compress(json.dumps(value, separators=(",", ":"), default=str).encode(), compresslevel=6)


def _unpack(blob: Any) -> Any:
    raw = blob.value if hasattr(blob, "value") else blob
    return json.loads(gzip.decompress(bytes(raw)))


def _condition_failed(exc: ClientError) -> bool:
    """The write's condition did not hold (someone else got there first); any other error is real."""
    return bool(exc.response["Error"]["Code"] == "ConditionalCheckFailedException")


def _subscriber(item: dict[str, Any]) -> Subscriber:
    return Subscriber.model_validate({k: v for k, v in item.items() if k not in {"pk", "sk", "gsi1pk", "gsi1sk"}})


class ConcurrentUpdate(Exception):
    """A conditional write lost to another writer; re-read and decide again."""


@dataclass(frozen=True)
class StoredWeek:
    status: str | None  # collected, rate_limited, sent, no_digest, ...
    reason: str  # why (or the message id of a sent digest)
    packed_report: Any
    spend_json: str | None

    def report(self) -> tuple[WeeklyReport, Spend] | None:
        """The report and the X spend, parsed only when asked for."""
        if self.packed_report is None or self.spend_json is None:
            return None
        return WeeklyReport.model_validate(_unpack(self.packed_report)), Spend.model_validate_json(self.spend_json)


@dataclass
class StoredTokens:
    ciphertext: bytes
    expires_at: float
    version: int


@dataclass
class Store:
    table_name: str

    @cached_property
    def table(self) -> Any:
        return boto3.resource("dynamodb", config=RETRIES).Table(self.table_name)

    # -- subscribers ---------------------------------------------------------------------------

    def put_subscriber(self, subscriber: Subscriber, *, reference: datetime | None = None,
                       forget_at: int | None = None) -> None:
        """Write the whole profile; ``forget_at``: DynamoDB deletes it then (a sign-up nobody confirmed)."""
        item: dict[str, Any] = {"pk": _sub(subscriber.subscriber_id), "sk": "PROFILE",
                                **json.loads(subscriber.model_dump_json())}
        if forget_at is not None:
            item["ttl"] = forget_at
        if subscriber.receives_digest:
            item["gsi1pk"] = subscriber.due_slot(reference or datetime.now(UTC))
            item["gsi1sk"] = subscriber.subscriber_id
        self.table.put_item(Item=item)

    def get_subscriber(self, subscriber_id: str) -> Subscriber | None:
        item = self.table.get_item(Key={"pk": _sub(subscriber_id), "sk": "PROFILE"}, ConsistentRead=True).get("Item")
        return _subscriber(item) if item else None

    def due_subscribers(self, slot: str) -> Iterator[Subscriber]:
        """Subscribers due in this UTC hour slot: a query of the sparse ``due`` index, never a scan."""
        kwargs: dict[str, Any] = {"IndexName": "due", "KeyConditionExpression": Key("gsi1pk").eq(slot)}
        while True:
            page = self.table.query(**kwargs)
            for item in page.get("Items", []):
                yield _subscriber(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim_dispatch(self, subscriber_id: str, week: str, next_slot: str | None) -> bool:
        """Mark the subscriber dispatched for ``week``; False when an earlier run already did."""
        update = "SET last_dispatched_week = :w"
        values: dict[str, Any] = {":w": week}
        if next_slot:
            update += ", gsi1pk = :slot"
            values[":slot"] = next_slot
        try:
            self.table.update_item(
                Key={"pk": _sub(subscriber_id), "sk": "PROFILE"},
                UpdateExpression=update,
                ConditionExpression=Attr("pk").exists()
                & (Attr("last_dispatched_week").not_exists() | Attr("last_dispatched_week").ne(week)),
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def update_subscriber(self, subscriber_id: str, **fields: Any) -> None:
        """Set these profile fields and no others, so an edit made meanwhile (a sign-up) is kept.

        The due index follows whether they receive digests; if what decides that changed
        between the read and the write, the write is refused and done again on a fresh read.
        """
        for _ in range(5):
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
                expression_values |= {":slot": updated.due_slot(datetime.now(UTC)), ":sid": subscriber_id}
            elif current.receives_digest and not updated.receives_digest:
                update += " REMOVE gsi1pk, gsi1sk"
            condition = Attr("pk").exists()
            for name in ("status", "email_confirmed", "suppressed"):
                condition &= Attr(name).eq(getattr(current, name))
            try:
                self.table.update_item(Key={"pk": _sub(subscriber_id), "sk": "PROFILE"}, UpdateExpression=update,
                                       ConditionExpression=condition, ExpressionAttributeNames=names,
                                       ExpressionAttributeValues=expression_values)
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise
                continue
            return
        raise ConcurrentUpdate(f"the profile of {subscriber_id} kept changing")

    # -- tokens --------------------------------------------------------------------------------

    def get_tokens(self, subscriber_id: str) -> StoredTokens | None:
        item = self.table.get_item(Key={"pk": _sub(subscriber_id), "sk": "TOKEN"}, ConsistentRead=True).get("Item")
        if not item:
            return None
        blob = item["ciphertext"]
        return StoredTokens(bytes(blob.value if hasattr(blob, "value") else blob), float(item["expires_at"]),
                            int(item["version"]))

    def put_tokens(self, subscriber_id: str, ciphertext: bytes, expires_at: float, *,
                   expected_version: int | None, forget_at: int | None = None) -> int:
        """Write rotated tokens; only if nobody else rotated them since ``expected_version`` was read.

        ``forget_at``: DynamoDB deletes them then, unless a later write (or ``keep_tokens``) drops it."""
        version = (expected_version or 0) + 1
        condition = Attr("pk").not_exists() if expected_version is None else Attr("version").eq(expected_version)
        item: dict[str, Any] = {"pk": _sub(subscriber_id), "sk": "TOKEN", "ciphertext": ciphertext,
                                "expires_at": str(expires_at), "version": version}
        if forget_at is not None:
            item["ttl"] = forget_at
        try:
            self.table.put_item(Item=item, ConditionExpression=condition)
        except ClientError as exc:
            if _condition_failed(exc):
                raise ConcurrentUpdate(f"tokens of {subscriber_id} changed concurrently") from None
            raise
        return version

    def keep_tokens(self, subscriber_id: str) -> None:
        """The sign-up was confirmed: its tokens stay (no ``ttl``)."""
        try:
            self.table.update_item(Key={"pk": _sub(subscriber_id), "sk": "TOKEN"}, UpdateExpression="REMOVE #ttl",
                                   ConditionExpression=Attr("pk").exists(), ExpressionAttributeNames={"#ttl": "ttl"})
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    def take_token_lease(self, subscriber_id: str, version: int, now: float, lease_s: int) -> bool:
        """Claim the right to refresh tokens at ``version`` for ``lease_s`` seconds."""
        try:
            self.table.update_item(
                Key={"pk": _sub(subscriber_id), "sk": "TOKEN"},
                UpdateExpression="SET lease_until = :until",
                ConditionExpression=Attr("version").eq(version)
                & (Attr("lease_until").not_exists() | Attr("lease_until").lt(int(now))),
                ExpressionAttributeValues={":until": int(now) + lease_s},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    # -- collector state -----------------------------------------------------------------------

    def get_cursors(self, subscriber_id: str) -> Cursors:
        item = self.table.get_item(Key={"pk": _sub(subscriber_id), "sk": "CURSORS"}, ConsistentRead=True).get("Item")
        return Cursors.model_validate(_unpack(item["blob"])) if item else Cursors()

    def put_cursors(self, subscriber_id: str, cursors: Cursors) -> None:
        self.table.put_item(Item={"pk": _sub(subscriber_id), "sk": "CURSORS",
                                  "blob": _pack(cursors.model_dump(mode="json"))})

    def get_graph(self, subscriber_id: str, which: str) -> Graph:
        """Known edges of ``following`` or ``followers``: user id -> [ISO time first seen or None, username]."""
        edges: Graph = {}
        for item in self._query_prefix(subscriber_id, f"GRAPH#{which}#"):
            edges.update(_unpack(item["blob"]))
        return edges

    def put_graph(self, subscriber_id: str, which: str, edges: Graph) -> None:
        ids = list(edges)
        chunks = [ids[i:i + GRAPH_CHUNK] for i in range(0, len(ids), GRAPH_CHUNK)] or [[]]
        old = {item["sk"] for item in self._query_prefix(subscriber_id, f"GRAPH#{which}#", keys_only=True)}
        with self.table.batch_writer() as batch:
            for n, chunk in enumerate(chunks):
                sk = f"GRAPH#{which}#{n:04d}"
                old.discard(sk)
                batch.put_item(Item={"pk": _sub(subscriber_id), "sk": sk,
                                     "blob": _pack({i: edges[i] for i in chunk})})
            for sk in old:
                batch.delete_item(Key={"pk": _sub(subscriber_id), "sk": sk})

    def get_recent(self, subscriber_id: str) -> Activity | None:
        item = self.table.get_item(Key={"pk": _sub(subscriber_id), "sk": "RECENT"}, ConsistentRead=True).get("Item")
        return Activity.model_validate(_unpack(item["blob"])) if item else None

    def put_recent(self, subscriber_id: str, activity: Activity) -> None:
        self.table.put_item(Item={"pk": _sub(subscriber_id), "sk": "RECENT",
                                  "blob": _pack(activity.model_dump(mode="json"))})

    def get_dm_conversations(self, subscriber_id: str) -> dict[str, datetime]:
        """DM conversations seen in earlier weeks: id -> first message time."""
        item = self.table.get_item(Key={"pk": _sub(subscriber_id), "sk": "DMCONVERSATIONS"},
                                   ConsistentRead=True).get("Item")
        return {k: datetime.fromisoformat(v) for k, v in _unpack(item["blob"]).items()} if item else {}

    def add_dm_conversations(self, subscriber_id: str, updates: dict[str, datetime]) -> None:
        if not updates:
            return
        known = self.get_dm_conversations(subscriber_id)
        known.update(updates)
        self.table.put_item(Item={"pk": _sub(subscriber_id), "sk": "DMCONVERSATIONS",
                                  "blob": _pack({k: v.isoformat() for k, v in known.items()})})

    # -- ledger and reports --------------------------------------------------------------------

    def get_ledger(self, subscriber_id: str) -> dict[str, Interaction]:
        return {
            str(item["sk"]).removeprefix("FOLLOWEE#"): Interaction(at=item["at"], kind=item["kind"])
            for item in self._query_prefix(subscriber_id, "FOLLOWEE#")
        }

    def put_ledger_updates(self, subscriber_id: str, updates: dict[str, Interaction]) -> None:
        with self.table.batch_writer() as batch:
            for user_id, interaction in updates.items():
                batch.put_item(Item={"pk": _sub(subscriber_id), "sk": f"FOLLOWEE#{user_id}",
                                     "at": interaction.at.isoformat(), "kind": interaction.kind})

    def put_week(self, subscriber_id: str, week: str, report: WeeklyReport, spend: Spend) -> None:
        self.table.update_item(
            Key={"pk": _sub(subscriber_id), "sk": f"WEEK#{week}"},
            UpdateExpression="SET report = :r, spend = :s, spend_usd = :u",
            ExpressionAttributeValues={":r": _pack(report.model_dump(mode="json")),
                                       ":s": spend.model_dump_json(), ":u": str(spend.total_usd)},
        )

    def put_week_spend(self, subscriber_id: str, week: str, spend: Spend) -> None:
        self.table.update_item(
            Key={"pk": _sub(subscriber_id), "sk": f"WEEK#{week}"},
            UpdateExpression="SET spend = :s, spend_usd = :u",
            ExpressionAttributeValues={":s": spend.model_dump_json(), ":u": str(spend.total_usd)},
        )

    def get_week_spend(self, subscriber_id: str, week: str) -> Spend | None:
        item = self.table.get_item(Key={"pk": _sub(subscriber_id), "sk": f"WEEK#{week}"},
                                   ConsistentRead=True).get("Item")
        return Spend.model_validate_json(item["spend"]) if item and "spend" in item else None

    def mark_week(self, subscriber_id: str, week: str, status: str, reason: str = "", *,
                  keep_earlier: bool = False) -> None:
        """Record why a subscriber-week ended as it did (a digest sent, or why not).

        ``keep_earlier`` leaves a status already recorded this week alone: a
        redelivered message must not replace "needs_reauth: X refused …" with
        the vaguer "not receiving digests" that the first attempt caused.
        """
        kwargs: dict[str, Any] = {}
        if keep_earlier:
            kwargs["ConditionExpression"] = Attr("status").not_exists()
        try:
            self.table.update_item(
                Key={"pk": _sub(subscriber_id), "sk": f"WEEK#{week}"},
                UpdateExpression="SET #s = :s, reason = :r, status_at = :t",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": status, ":r": reason, ":t": datetime.now(UTC).isoformat()},
                **kwargs,
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    def stored_week(self, subscriber_id: str, week: str) -> StoredWeek | None:
        """The ``WEEK#`` item in one read: what happened to the week, and its report if one was stored."""
        item = self.table.get_item(Key={"pk": _sub(subscriber_id), "sk": f"WEEK#{week}"},
                                   ConsistentRead=True).get("Item")
        if not item:
            return None
        return StoredWeek(status=str(item["status"]) if "status" in item else None,
                          reason=str(item.get("reason", "")), packed_report=item.get("report"),
                          spend_json=str(item["spend"]) if "spend" in item else None)

    def week_status(self, subscriber_id: str, week: str) -> tuple[str, str] | None:
        stored = self.stored_week(subscriber_id, week)
        return None if stored is None or stored.status is None else (stored.status, stored.reason)

    def set_run_flag(self, week: str, flag: str, reason: str) -> None:
        """A fact about this week's whole run (e.g. X credits exhausted), kept for two weeks."""
        expires = int(datetime.now(UTC).timestamp()) + 14 * 86400
        self.table.put_item(Item={"pk": f"RUN#{week}", "sk": f"FLAG#{flag}", "reason": reason, "ttl": expires})

    def run_flag(self, week: str, flag: str) -> str | None:
        item = self.table.get_item(Key={"pk": f"RUN#{week}", "sk": f"FLAG#{flag}"}, ConsistentRead=True).get("Item")
        return str(item["reason"]) if item else None

    def get_week(self, subscriber_id: str, week: str) -> tuple[WeeklyReport, Spend] | None:
        stored = self.stored_week(subscriber_id, week)
        return stored.report() if stored else None

    def recent_reports(self, subscriber_id: str, limit: int = 8, before_week: str | None = None) -> list[WeeklyReport]:
        """Up to ``limit`` stored reports, oldest first, optionally only weeks before ``before_week``."""
        condition = Key("pk").eq(_sub(subscriber_id))
        condition &= Key("sk").between("WEEK#", f"WEEK#{before_week}") if before_week else Key("sk").begins_with(
            "WEEK#")
        page = self.table.query(KeyConditionExpression=condition, ScanIndexForward=False, Limit=limit + 1)
        reports = [WeeklyReport.model_validate(_unpack(i["report"])) for i in page.get("Items", [])
                   if i["sk"] != f"WEEK#{before_week}" and "report" in i]
        return list(reversed(reports[:limit]))

    def subscriber_records(self, subscriber_id: str) -> dict[str, Any]:
        """What is stored about the subscriber besides the profile, for "download my data": weeks (status,
        report, X spend), the ledger, the follow graphs, recent activity and the DM conversations seen (ids and
        first-message times; no DM text is ever stored). Never the X tokens, cursors or a pending change."""
        weeks: dict[str, Any] = {}
        for week in self.weeks_of(subscriber_id):
            stored = self.stored_week(subscriber_id, week)
            if stored is None:
                continue
            report = stored.report()
            weeks[week] = {"status": stored.status, "reason": stored.reason,
                           "report": report[0].model_dump(mode="json") if report else None,
                           "x_spend": json.loads(stored.spend_json) if stored.spend_json else None}
        recent = self.get_recent(subscriber_id)
        return {
            "weeks": weeks,
            "ledger": {user_id: i.model_dump(mode="json") for user_id, i in self.get_ledger(subscriber_id).items()},
            "following": self.get_graph(subscriber_id, "following"),
            "followers": self.get_graph(subscriber_id, "followers"),
            "recent_activity": recent.model_dump(mode="json") if recent else None,
            "dm_conversations_seen": {k: v.isoformat() for k, v in self.get_dm_conversations(subscriber_id).items()},
        }

    def weeks_of(self, subscriber_id: str) -> list[str]:
        """Every ISO week with a ``WEEK#`` or ``DIGEST#`` item of the subscriber, oldest first."""
        weeks = {str(item["sk"]).split("#", 1)[1] for prefix in ("WEEK#", "DIGEST#")
                 for item in self._query_prefix(subscriber_id, prefix, keys_only=True)}
        return sorted(weeks)

    def put_digest(self, subscriber_id: str, week: str, raw_message: bytes) -> None:
        """Keep the rendered message before sending, so what was sent can always be shown."""
        self.table.put_item(Item={"pk": _sub(subscriber_id), "sk": f"DIGEST#{week}",
                                  "message": gzip.compress(raw_message), "rendered_at": datetime.now(UTC).isoformat()})

    def get_digest(self, subscriber_id: str, week: str) -> bytes | None:
        item = self.table.get_item(Key={"pk": _sub(subscriber_id), "sk": f"DIGEST#{week}"}).get("Item")
        if not item:
            return None
        blob = item["message"]
        return gzip.decompress(bytes(blob.value if hasattr(blob, "value") else blob))

    def suppress(self, email: str, reason: str) -> None:
        self.table.put_item(Item={"pk": f"SUPPRESSED#{email.lower()}", "sk": "SUPPRESSED", "reason": reason,
                                  "at": datetime.now(UTC).isoformat()})

    def is_suppressed(self, email: str) -> bool:
        item = self.table.get_item(Key={"pk": f"SUPPRESSED#{email.lower()}", "sk": "SUPPRESSED"}).get("Item")
        return item is not None

    # -- sign-up -------------------------------------------------------------------------------

    def put_new_subscriber(self, subscriber: Subscriber, *, expires_at: int) -> None:
        """A sign-up that has not reached X yet; DynamoDB drops it at ``expires_at`` unless a later
        ``put_subscriber`` (which writes the whole item, without ``ttl``) makes it permanent."""
        item: dict[str, Any] = {"pk": _sub(subscriber.subscriber_id), "sk": "PROFILE", "ttl": expires_at,
                                **json.loads(subscriber.model_dump_json())}
        self.table.put_item(Item=item, ConditionExpression=Attr("pk").not_exists())

    def put_oauth_state(self, state_key: str, payload: str, *, expires_at: int) -> None:
        self.table.put_item(Item={"pk": f"OAUTH#{state_key}", "sk": "STATE", "payload": payload, "ttl": expires_at},
                            ConditionExpression=Attr("pk").not_exists())

    def take_oauth_state(self, state_key: str) -> tuple[str, int] | None:
        """Read and delete in one call, so a state works once: (payload, expires_at) or None."""
        old = self.table.delete_item(Key={"pk": f"OAUTH#{state_key}", "sk": "STATE"},
                                     ReturnValues="ALL_OLD").get("Attributes")
        return (str(old["payload"]), int(old["ttl"])) if old else None

    def owner(self, kind: UniqueKind, value: str, *, now: int | None = None) -> str | None:
        """The subscriber that owns this X user id or email address, if any."""
        item = self.table.get_item(Key={"pk": _unique(kind, value), "sk": "SUBSCRIBER"},
                                   ConsistentRead=True).get("Item")
        if not item or ("ttl" in item and int(item["ttl"]) < (now if now is not None else _epoch())):
            return None
        return str(item["subscriber_id"])

    def claim(self, kind: UniqueKind, value: str, subscriber_id: str, *, expires_at: int | None = None,
              now: int | None = None) -> str:
        """Make ``subscriber_id`` the owner unless another subscriber owns it; returns the owner.

        A claim whose ``ttl`` has passed counts as free (DynamoDB deletes expired items late)."""
        item: dict[str, Any] = {"pk": _unique(kind, value), "sk": "SUBSCRIBER", "subscriber_id": subscriber_id}
        if expires_at is not None:
            item["ttl"] = expires_at
        now = now if now is not None else _epoch()
        for _ in range(3):
            try:
                self.table.put_item(Item=item, ConditionExpression=Attr("pk").not_exists()
                                    | Attr("subscriber_id").eq(subscriber_id) | Attr("ttl").lt(now))
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise
                current = self.owner(kind, value, now=now)
                if current is not None:
                    return current
                continue  # released between the write and the read: try again
            return subscriber_id
        raise ConcurrentUpdate(f"{kind} ownership kept changing")

    def release(self, kind: UniqueKind, value: str, subscriber_id: str) -> None:
        """Give up ownership, only if ``subscriber_id`` still holds it."""
        try:
            self.table.delete_item(Key={"pk": _unique(kind, value), "sk": "SUBSCRIBER"},
                                   ConditionExpression=Attr("subscriber_id").eq(subscriber_id))
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    def take_confirmation_slot(self, email: str, *, now: int, cooldown_s: int, confirms: str) -> str | None:
        """Records a confirmation email about ``confirms`` to this address and returns None, unless one went
        in the last ``cooldown_s`` seconds: then returns what that one confirms."""
        try:
            self.table.put_item(
                Item={"pk": _unique("EMAIL", email), "sk": "CONFIRMATION", "sent_at": now, "confirms": confirms,
                      "ttl": now + cooldown_s},
                ConditionExpression=Attr("pk").not_exists() | Attr("ttl").lte(now),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return str(exc.response.get("Item", {}).get("confirms", {}).get("S", ""))
            raise
        return None

    def count_signup_email(self, limited: str, *, now: int, window_s: int, limit: int) -> bool:
        """Count one sign-up email against ``limited`` (a hashed X account, mailbox or client) in the current
        ``window_s`` window; False, and nothing counted, once ``limit`` emails went out in it."""
        window = now // window_s
        try:
            self.table.update_item(
                Key={"pk": f"LIMIT#{limited}", "sk": f"SIGNUPEMAILS#{window}"},
                UpdateExpression="ADD sent :one SET #ttl = :ttl",
                ConditionExpression=Attr("sent").not_exists() | Attr("sent").lt(limit),
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":one": 1, ":ttl": (window + 1) * window_s},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def forget_confirmation_slot(self, email: str) -> None:
        self.table.delete_item(Key={"pk": _unique("EMAIL", email), "sk": "CONFIRMATION"})

    def put_pending_change(self, subscriber_id: str, payload: str, ciphertext: bytes, *, expires_at: int) -> None:
        self.table.put_item(Item={"pk": _sub(subscriber_id), "sk": "PENDING", "payload": payload,
                                  "ciphertext": ciphertext, "ttl": expires_at})

    def get_pending_change(self, subscriber_id: str, *, now: int | None = None) -> tuple[str, bytes] | None:
        item = self.table.get_item(Key={"pk": _sub(subscriber_id), "sk": "PENDING"}, ConsistentRead=True).get("Item")
        if not item or int(item["ttl"]) < (now if now is not None else _epoch()):
            return None
        blob = item["ciphertext"]
        return str(item["payload"]), bytes(blob.value if hasattr(blob, "value") else blob)

    def delete_pending_change(self, subscriber_id: str) -> None:
        self.table.delete_item(Key={"pk": _sub(subscriber_id), "sk": "PENDING"})

    def forget_history(self, subscriber_id: str) -> int:
        """Delete what was collected and reported (the X account changed); keeps profile, tokens, pending."""
        count = 0
        with self.table.batch_writer() as batch:
            for item in self._query_prefix(subscriber_id, "", keys_only=True):
                if item["sk"] not in {"PROFILE", "TOKEN", "PENDING"}:
                    batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
                    count += 1
        return count

    # -- helpers -------------------------------------------------------------------------------

    def _query_prefix(self, subscriber_id: str, prefix: str, *, keys_only: bool = False) -> Iterator[dict[str, Any]]:
        condition = Key("pk").eq(_sub(subscriber_id))
        if prefix:
            condition &= Key("sk").begins_with(prefix)
        kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ConsistentRead": True}
        if keys_only:
            kwargs["ProjectionExpression"] = "pk, sk"
        while True:
            page = self.table.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete_everything(self, subscriber_id: str) -> int:
        """Delete every item of the subscriber (profile, tokens, history, ledger); returns how many."""
        count = 0
        with self.table.batch_writer() as batch:
            for item in self._query_prefix(subscriber_id, "", keys_only=True):
                batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
                count += 1
        return count
