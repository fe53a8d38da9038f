"""Token refresh: before expiry, once under concurrency, never losing the rotated refresh token."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from followthrough.adapters.store import ConcurrentUpdate, TokenRepository
from followthrough.adapters.store.memory import memory_repositories
from followthrough.adapters.tokens import LocalCipher, TokenDecryptError
from followthrough.adapters.x import TokenSet, XAuthRevoked
from followthrough.bootstrap import Services
from followthrough.pipeline.tokens import TokenKeeper
from followthrough_devkit.aws import LocalAws

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@dataclass
class FakeX:
    """X's token endpoint: single-use refresh tokens, slow enough for two callers to overlap."""

    valid_refresh: str = "r0"
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, refresh_token: str) -> TokenSet:
        time.sleep(0.2)
        with self.lock:
            self.calls += 1
            if refresh_token != self.valid_refresh:
                raise XAuthRevoked("invalid_grant")
            self.valid_refresh = f"r{self.calls}"
            return TokenSet(f"a{self.calls}", self.valid_refresh, NOW.timestamp() + 7200)


def _keeper(fake: FakeX, stored: TokenRepository | None = None) -> TokenKeeper:
    """On the in-memory twin unless told otherwise (tests/test_store_contract.py holds both to one contract)."""
    return TokenKeeper(
        stored=stored or memory_repositories(lambda: NOW).tokens,
        cipher=LocalCipher("test-secret-key-123"),
        oauth=fake,  # type: ignore[arg-type]
        now=lambda: NOW,
        # waiters poll ten times: 2 s in all leaves the one refresh (0.2 s at X) room on a loaded machine
        wait=lambda s: time.sleep(0.2),
    )


def _stored_pair(keeper: TokenKeeper) -> dict[str, str]:
    stored = keeper.stored.get_tokens("sub-1")
    assert stored is not None
    return json.loads(keeper.cipher.decrypt(stored.ciphertext, "sub-1"))


def test_fresh_token_is_used_without_refreshing() -> None:
    fake = FakeX()
    keeper = _keeper(fake)
    keeper.save("sub-1", TokenSet("a0", "r0", NOW.timestamp() + 3600), expected_version=None)
    assert keeper.access_token("sub-1") == "a0" and fake.calls == 0


def test_concurrent_refreshes_refresh_once_and_keep_the_rotated_token() -> None:
    fake = FakeX()
    keeper = _keeper(fake)
    keeper.save("sub-1", TokenSet("a0", "r0", NOW.timestamp() + 60), expected_version=None)  # expires soon
    results: list[str] = []
    errors: list[Exception] = []

    def worker() -> None:
        try:
            results.append(keeper.access_token("sub-1"))
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert fake.calls == 1 and results == ["a1"] * 4
    assert _stored_pair(keeper) == {"access": "a1", "refresh": "r1"}
    # the stored refresh token is the live one: the next refresh works
    keeper.stored.put_tokens(
        "sub-1",
        keeper.stored.get_tokens("sub-1").ciphertext,
        NOW.timestamp(),  # type: ignore[union-attr]
        expected_version=keeper.stored.get_tokens("sub-1").version,
    )  # type: ignore[union-attr]
    assert keeper.access_token("sub-1") == "a2"


def test_a_stale_writer_cannot_overwrite_newer_tokens() -> None:
    keeper = _keeper(FakeX())
    version = keeper.save("sub-1", TokenSet("a0", "r0", 0), expected_version=None)
    keeper.save("sub-1", TokenSet("a1", "r1", 0), expected_version=version)
    with pytest.raises(ConcurrentUpdate):
        keeper.save("sub-1", TokenSet("stale", "stale", 0), expected_version=version)
    assert _stored_pair(keeper)["refresh"] == "r1"


def test_revoked_refresh_token_raises() -> None:
    fake = FakeX(valid_refresh="something-else")
    keeper = _keeper(fake)
    keeper.save("sub-1", TokenSet("a0", "r0", 0), expected_version=None)
    with pytest.raises(XAuthRevoked):
        keeper.access_token("sub-1")


def test_tokens_are_encrypted_at_rest(aws: LocalAws, services: Services) -> None:
    keeper = _keeper(FakeX(), services.repositories.tokens)
    keeper.save("sub-1", TokenSet("secret-access-token", "secret-refresh", 0), expected_version=None)
    item = keeper.stored.table.get("SUB#sub-1", "TOKEN")
    assert b"secret-access-token" not in bytes(item["ciphertext"].value)
    with pytest.raises(TokenDecryptError):
        LocalCipher("another-key-entirely").decrypt(bytes(item["ciphertext"].value), "sub-1")
