"""Inputs and outputs of the analysis besides the activity itself."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from followthrough.report import WeeklyReport

InteractionKind = Literal["reply", "mention", "retweet", "quote", "like", "dm"]


class Interaction(BaseModel):
    """The subscriber's latest interaction with one followee (one ledger row)."""

    # a newer interaction replaces the row; nothing edits one in place
    model_config = ConfigDict(frozen=True)

    at: datetime
    kind: InteractionKind


class History(BaseModel):
    """What earlier weeks left behind, read from storage by the pipeline."""

    # followee id -> the subscriber's last interaction with them, across weeks
    ledger: dict[str, Interaction] = {}
    # earlier reports, oldest first (at most the last 8 weeks)
    previous_reports: list[WeeklyReport] = []
    # the weeks among them whose digest was sent (the follow-up compares with the last one sent)
    sent_weeks: set[str] = set()
    # DM conversation id -> its first message time, for conversations seen in
    # earlier weeks: a message in one of them is never a conversation opener,
    # even when the 30 days of DMs X serves no longer reach its start
    known_dm_conversations: dict[str, datetime] = {}


class AnalysisResult(BaseModel):
    report: WeeklyReport
    # only the ledger rows that changed this week, for the pipeline to write
    ledger_updates: dict[str, Interaction] = {}
    # DM conversations first seen this week (id -> first message time), for
    # the pipeline to add to ``History.known_dm_conversations``
    dm_conversation_updates: dict[str, datetime] = {}
