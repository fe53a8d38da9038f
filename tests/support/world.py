"""A small seeded X world behind the stand-in (HTTP on loopback), its services on the in-memory twins (no AWS).

Test modules import the fixtures ``twins_fixture`` and ``collect_world_fixture``; pytest knows them as
``twins`` and ``world``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from followthrough.adapters.store.memory import memory_repositories
from followthrough.bootstrap import Services
from followthrough.messages import CollectRequest
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.demo import DemoWorld, start_world
from tests.support.twins import Twins, make_twins

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture(name="twins")
def twins_fixture() -> Twins:
    return make_twins(lambda: NOW)


def _on_twins(twins: Twins, services: Services) -> Services:
    """The world's services on ``twins``, whose repositories keep the services' clock (the stand-in's)."""
    twins.repositories = memory_repositories(services.clock)
    return twins.install(services)


@pytest.fixture(name="world")
def collect_world_fixture(twins: Twins, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoWorld]:
    names = LocalAws(endpoint_url="")  # resource names only: no AWS is started, none is called
    for name in [*names.environ(), "X_API_BASE_URL", "POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_LOG_LEVEL"]:
        monkeypatch.setenv(name, "")  # start_world's settings are undone after the test
    w = start_world(seed=11, now=NOW, profile="small", aws=names, adapt=lambda services: _on_twins(twins, services))
    yield w
    w.close()


def collect_request(world: DemoWorld, week: str = "2026-W48") -> CollectRequest:
    return CollectRequest(subscriber_id=world.subscriber.subscriber_id, week=week)
