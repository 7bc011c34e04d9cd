"""Password hashes (scrypt) and the account stores' contract, on every store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_twisted

from chat.core.accountbook import Account, MemoryAccountStore, name_keys
from chat.passwords import hash_password, verify_password, weakness

CHEAP = (1 << 4, 1, 1)  # the tests' cost: the algorithm is the same, the work tiny


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse", CHEAP)
    assert stored.startswith("scrypt$16$1$1$")
    assert "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert not verify_password("Correct horse", stored)


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same password", CHEAP) != hash_password("same password", CHEAP)


def test_the_default_cost_is_rfc_7914s_for_interactive_logins() -> None:
    stored = hash_password("correct horse")
    assert stored.split("$")[1:4] == ["16384", "8", "1"]
    assert verify_password("correct horse", stored)


def test_a_damaged_or_foreign_hash_verifies_nothing() -> None:
    for stored in ("", "plain", "argon2$x", "scrypt$16$1$1$!!$!!", "scrypt$a$b$c$d$e"):
        assert not verify_password("anything", stored), stored


@pytest.mark.parametrize("password, why", [
    ("short", "at least 8"), ("x" * 301, "at most 300"), (" padded password", "spaces"),
    ("two\nlines here", "line break"),
])
def test_weak_passwords_are_refused_with_the_reason(password: str, why: str) -> None:
    assert why in (weakness(password) or "")


def test_a_good_password_has_no_weakness() -> None:
    assert weakness("correct horse battery") is None


def test_an_account_record_keeps_a_hash_and_no_password() -> None:
    account = Account("Alice", hash_password("wonderland!", CHEAP), 1)
    assert "wonderland" not in account.body()
    assert Account.from_body(account.body()) == account
    for bad in ('{"v":2,"name":"a","hash":"h","created":1}', '{"v":1,"name":3}', "[]"):
        with pytest.raises(ValueError):
            Account.from_body(bad)


def test_a_name_is_found_under_its_folded_form_and_its_looks() -> None:
    keys = name_keys("Alice")
    assert keys[0] == "n:alice"
    assert set(name_keys("аlice")) & set(keys), "a Cyrillic а looks like alice"
    assert not set(name_keys("bob")) & set(keys)


@pytest_twisted.async_yield_fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    if request.param == "memory":
        yield MemoryAccountStore()
        return
    from chat.history import History

    history = History(tmp_path)
    try:
        yield history.accounts
    finally:
        history.close()


@pytest_twisted.ensureDeferred
async def test_every_store_keeps_the_contract(store: MemoryAccountStore) -> None:
    """Create, find by any key, refuse a look-alike, replace, delete (the Redis store: test_cluster.py)."""
    alice = Account("Alice", "scrypt$h1", 10)
    assert await store.find(name_keys("alice")) is None
    assert await store.create(alice, name_keys("Alice")) is True
    assert await store.find(name_keys("ALICE")) == alice
    assert await store.find(name_keys("аlice")) == alice, "found by looks"
    assert await store.create(Account("аlice", "scrypt$h2", 11), name_keys("аlice")) is False
    assert await store.create(Account("ALICE", "scrypt$h3", 12), name_keys("ALICE")) is False
    assert await store.find(name_keys("bob")) is None
    await store.replace(Account("Alice", "scrypt$new", 10))
    assert (await store.find(name_keys("alice"))).hash == "scrypt$new"  # type: ignore[union-attr]
    await store.delete(alice, name_keys("Alice"))
    assert await store.find(name_keys("alice")) is None
    assert await store.find(name_keys("аlice")) is None
    assert await store.create(Account("аlice", "scrypt$h2", 13), name_keys("аlice")) is True, "free again"
