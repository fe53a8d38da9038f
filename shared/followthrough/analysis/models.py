"""Inputs and outputs of the analysis besides the activity itself."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from followthrough.report import WeeklyReport

InteractionKind = Literal["reply", "mention", "retweet", "quote", "like", "dm"]


class Interaction(BaseModel):
    """The subscriber's latest interaction with one followee (one ledger row)."""

    at: datetime
    kind: InteractionKind


class History(BaseModel):
    """What earlier weeks left behind, read from storage by the pipeline."""

    # followee id -> the subscriber's last interaction with them, across weeks
    ledger: dict[str, Interaction] = {}
    # earlier reports, oldest first (at most the last 8 weeks)
    previous_reports: list[WeeklyReport] = []


class AnalysisResult(BaseModel):
    report: WeeklyReport
    # only the ledger rows that changed this week, for the pipeline to write
    ledger_updates: dict[str, Interaction] = {}
