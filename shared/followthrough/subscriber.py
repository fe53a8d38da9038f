"""The subscriber: who gets a digest, when, and in what state."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator

SubscriberStatus = Literal["pending", "active", "unsubscribed", "needs_reauth"]

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# The digest's sections a subscriber can leave out (the conversations and the headline always come).
DigestSection = Literal["more_people", "dms", "trends", "posting", "challenge"]
DIGEST_SECTIONS: dict[str, str] = {
    "more_people": "More people you follow but haven't talked with",
    "dms": "Automated direct messages",
    "trends": "Your last weeks in charts",
    "posting": "How you post",
    "challenge": "The @reply challenge",
}
# Reads a subscriber can turn off: each costs X credits every week, and what it feeds is then not measured.
OptionalRead = Literal["dm_events", "followers"]
# why a read the subscriber turned off was skipped: the collector records it, the digest recognises it
TURNED_OFF = "you turned this read off in your settings"
OPTIONAL_READS: dict[str, str] = {
    "dm_events": "Read your direct messages (no text is kept) to spot automated ones",
    "followers": "Read your followers list to find new followers you haven't greeted",
}

# Reads a subscriber can turn on (off until they do): each costs X credits every week, within the weekly budget.
OptInRead = Literal["search_recent"]
OPT_IN_READS: dict[str, str] = {
    "search_recent": "Search X each week for your handle and name without the @ (posts that talk about you "
    "without tagging you); it uses part of the weekly X budget",
}


class Subscriber(BaseModel):
    subscriber_id: str
    email: str
    x_user_id: str | None = None
    username: str | None = None
    status: SubscriberStatus = "pending"
    email_confirmed: bool = False
    suppressed: bool = False
    digest_day: int = Field(0, ge=0, le=6, description="0 = Monday")
    digest_hour: int = Field(8, ge=0, le=23, description="local hour the digest should arrive")
    time_zone: str = "UTC"
    consent_version: str | None = None
    consent_at: datetime | None = None
    own_domains: list[str] = []
    created_at: datetime
    last_dispatched_week: str | None = None
    first_collected_at: datetime | None = None
    reconnect_email_sent_at: datetime | None = None
    paused_until: datetime | None = None  # no digest before then (the settings page's pause, 1-8 weeks)
    hidden_sections: list[DigestSection] = []  # left out of the digest (the settings page)
    skipped_reads: list[OptionalRead] = []  # optional X reads turned off (the settings page)
    opted_in_reads: list[OptInRead] = []  # opt-in X reads turned on (the settings page)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in known_time_zones():
            raise ValueError(f"unknown time zone {value!r}")
        return value

    @property
    def receives_digest(self) -> bool:
        return self.status == "active" and self.email_confirmed and not self.suppressed

    def paused_at(self, moment: datetime) -> bool:
        return self.paused_until is not None and moment < self.paused_until

    def due_slot(self, reference: datetime) -> str:
        """The UTC hour-of-week slot this subscriber is due in, for the week of ``reference``.

        Computed from the local day and hour, so daylight saving time moves the
        UTC slot; the dispatcher recomputes it every week.
        """
        zone = ZoneInfo(self.time_zone)
        local_ref = reference.astimezone(zone)
        monday = (local_ref - timedelta(days=local_ref.weekday())).date()
        local_due = datetime(monday.year, monday.month, monday.day, self.digest_hour, tzinfo=zone) + timedelta(
            days=self.digest_day
        )
        return slot_of(local_due)


@cache
def known_time_zones() -> frozenset[str]:
    """IANA zone names, from the ``tzdata`` package's list of its zones.

    One small file, where ``zoneinfo.available_timezones()`` opens every file of
    the system's zone database (milliseconds on each cold start of the sign-up
    page). ``tzdata`` is a dependency anyway: Lambda's images need not carry
    the system database, and ``ZoneInfo`` falls back to the package.
    """
    listing = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(listing.split()) | {"UTC"}


def slot_of(moment: datetime) -> str:
    """``DUE#<weekday>#<hour>`` in UTC: the dispatcher's GSI partition for that hour."""
    utc = moment.astimezone(ZoneInfo("UTC"))
    return f"DUE#{utc.weekday()}#{utc.hour:02d}"


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"
