"""A clock the tests can move: the services' one clock (bootstrap.Services) in tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from followthrough.bootstrap import wall_clock


class MovableClock:
    """The services' clock in tests: the wall clock until a test moves it."""

    def __init__(self) -> None:
        self.clock: Callable[[], datetime] = wall_clock

    def __call__(self) -> datetime:
        return self.clock()

    def set(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
