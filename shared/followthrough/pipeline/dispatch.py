"""Find the subscribers due this hour and queue one collect message each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from followthrough.adapters.queue import Queue
from followthrough.adapters.store import SubscriberRepository
from followthrough.messages import CollectRequest
from followthrough.subscriber import iso_week, slot_of

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics


@dataclass
class DispatchResult:
    slot: str
    week: str
    due: int
    queued: int
    already_dispatched: int


def dispatch(subscribers: SubscriberRepository, queue: Queue, at: datetime) -> DispatchResult:
    """Queue this hour's subscribers; safe to run twice (a second run queues nobody again).

    Messages go out before subscribers are marked, so a crash in between can
    only queue someone twice, never lose them; the digest is sent exactly once
    either way.
    """
    slot, week = slot_of(at), iso_week(at)
    # a paused subscriber stays in the due index (the pause ends by itself) and is not queued
    due = [s for s in subscribers.due_subscribers(slot) if s.receives_digest and not s.paused_at(at)]
    fresh = [s for s in due if s.last_dispatched_week != week]
    queue.send_all(CollectRequest(subscriber_id=s.subscriber_id, week=week) for s in fresh)
    next_week = at + timedelta(days=7)
    for subscriber in fresh:
        subscribers.claim_dispatch(subscriber.subscriber_id, week, subscriber.due_slot(next_week))
    return DispatchResult(
        slot=slot, week=week, due=len(due), queued=len(fresh), already_dispatched=len(due) - len(fresh)
    )


@dataclass
class DispatchStep:
    """What happens on the hourly schedule: this hour's subscribers queued, and counted."""

    subscribers: SubscriberRepository
    queue: Queue
    metrics: Metrics

    def run(self, at: datetime) -> DispatchResult:
        result = dispatch(self.subscribers, self.queue, at)
        self.metrics.add_metric(name="SubscribersQueued", unit=MetricUnit.Count, value=result.queued)
        return result
