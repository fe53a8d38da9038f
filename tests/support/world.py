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


def twin_world(twins: Twins, monkeypatch: pytest.MonkeyPatch, profile: str = "small") -> DemoWorld:
    """The stand-in with one subscriber of ``profile``, its services on ``twins``; the caller closes it."""
    names = LocalAws(endpoint_url="")  # resource names only: no AWS is started, none is called
    for name in [*names.environ(), "X_API_BASE_URL", "POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_LOG_LEVEL"]:
        monkeypatch.setenv(name, "")  # start_world's settings are undone after the test
    monkeypatch.setenv("X_RETRY_BACKOFF_S", "0")  # X's 5xx retried without waiting: the tests count the retries
    w = start_world(seed=11, now=NOW, profile=profile, aws=names, adapt=lambda services: _on_twins(twins, services))
    w.services.token_keeper.wait = w.sim.advance  # waiting out another refresh's lease passes the world's time
    return w


@pytest.fixture(name="world")
def collect_world_fixture(
    twins: Twins, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[DemoWorld]:
    """The small profile, or the one a test names (``parametrize("world", [profile], indirect=True)``)."""
    w = twin_world(twins, monkeypatch, getattr(request, "param", "small"))
    yield w
    w.close()


def served_following(world: DemoWorld) -> set[str]:
    """Who the subscriber follows as X's list serves it: X counts suspended accounts it does not serve
    (xsim/realism.py, ``unserved_accounts``)."""
    account = world.sim.accounts[world.subscriber.x_user_id]
    return {u.id for u in account.following if u.id not in account.unserved}


def collect_request(world: DemoWorld, week: str = "2026-W48") -> CollectRequest:
    return CollectRequest(subscriber_id=world.subscriber.subscriber_id, week=week)
