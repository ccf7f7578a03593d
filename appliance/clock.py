"""Clinic-local time: one place that knows "now", so a simulated call can happen at any moment."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


class Clock:
    """Clinic-local wall-clock time (naive datetimes), real or fixed for simulations and tests."""

    def __init__(self, tz: ZoneInfo, fixed: datetime | None = None):
        self.tz, self.fixed = tz, fixed

    def now(self) -> datetime:
        if self.fixed is not None:
            return self.fixed
        return datetime.now(UTC).astimezone(self.tz).replace(tzinfo=None, second=0, microsecond=0)

    def to_utc(self, local: datetime) -> datetime:
        """A clinic-local wall-clock time as an aware UTC datetime (for invites and reminders)."""
        return local.replace(tzinfo=self.tz).astimezone(UTC)
