"""Small builders shared by the tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from followthrough.subscriber import Subscriber

MONDAY_8 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday, 08:00 UTC


def subscriber(n: int = 1, **fields: Any) -> Subscriber:
    values: dict[str, Any] = {
        "subscriber_id": f"sub-{n}",
        "email": f"person{n}@example.com",
        "x_user_id": str(1000 + n),
        "username": f"person{n}",
        "status": "active",
        "email_confirmed": True,
        "digest_day": 0,
        "digest_hour": 8,
        "time_zone": "UTC",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(fields)
    return Subscriber(**values)
