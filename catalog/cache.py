"""The catalogue's cache: one version number, part of every cached catalogue key.

Every change to what shoppers see (a product saved, a shelf or price change, a category hidden,
a SKU selling out) bumps the version, so every cached list, detail and category tree is
re-read at once; nothing has to know which keys a change touched. Old entries expire by TTL.

Each process keeps the version it read, and the values it read or built, for up to
LOCAL_SECONDS (no Redis round trip for a hot read): a change made through the services shows at
once in the process that made it (its bump replaces the version, so every key changes) and in
every other process within that second.
"""

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction

VERSION_KEY = "catalog:version"
CATALOG_CACHE_TTL_SECONDS = 10 * 60

LOCAL_SECONDS = 1.0
# Copies kept per process (values; stock levels): enough for every product a busy process sees
# within LOCAL_SECONDS, so a spread of details still reads each at most once a second.
LOCAL_VALUES_MAX = 2048

T = TypeVar("T")

# (time.monotonic() before the read, version) of this process's copy of the shared version.
_local_version: tuple[float, int] | None = None
# {key: (time.monotonic() before the read, value)}: this process's copies of cached values.
_local_values: dict[str, tuple[float, Any]] = {}
# {product id: (time.monotonic() before the read, {sku id: stock})}: this process's stock levels.
_local_stock: dict[int, tuple[float, dict[int, int]]] = {}


def catalog_cache_forget_local() -> None:
    """Drop this process's copies (the tests do, after clearing the shared cache)."""
    global _local_version
    _local_version = None
    _local_values.clear()
    _local_stock.clear()


def catalog_cache_version() -> int:
    """The current version: this process's copy when under LOCAL_SECONDS old, else the
    shared one (Redis)."""
    global _local_version
    copy, now = _local_version, time.monotonic()
    if copy is not None and now - copy[0] < LOCAL_SECONDS:
        return copy[1]
    version = _shared_version()
    _local_version = (now, version)
    return version


def _shared_version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:
        # Start from the clock, not 1: if Redis evicted the key while old entries live on,
        # a restarted count could reach their version again and serve them.
        fresh = time.time_ns() // 1000
        cache.add(VERSION_KEY, fresh, timeout=None)
        version = cache.get(VERSION_KEY)
        if version is None:  # flushed between add and get: this request uses its own start
            return fresh
    return int(version)


def _bump() -> None:
    global _local_version
    now = time.monotonic()
    try:
        version = cache.incr(VERSION_KEY)
    except ValueError:  # no version yet: start a fresh one
        _shared_version()
        version = cache.incr(VERSION_KEY)
    _local_version = (now, version)  # this process sees its own change at once
    _local_stock.clear()


def catalog_cache_bump() -> None:
    """Make every cached catalogue answer stale. Call after any change shoppers can see.

    Bumps now and again after the commit: the first makes the change visible to this process at
    once; the second discards anything a concurrent request cached from the pre-commit state in
    between (it re-read the old rows under the new version).
    """
    _bump()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_bump)


def catalog_cache_key(*parts: Any) -> str:
    """A key under the current version; long or non-ASCII parts are hashed."""
    raw = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    digest = hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()
    return f"catalog:v{catalog_cache_version()}:{parts[0]}:{digest}"


def catalog_cached(
    key: str, build: Callable[[], T], timeout: int = CATALOG_CACHE_TTL_SECONDS
) -> tuple[T, bool]:
    """(value, hit): the cached value, or build() stored for `timeout` seconds. The value may be
    this process's copy, shared by its requests: never modify it."""
    now = time.monotonic()
    local = _local_values.get(key)
    if local is not None and now - local[0] < LOCAL_SECONDS:
        return local[1], True
    value = cache.get(key)
    hit = value is not None
    if not hit:
        value = build()
        cache.set(key, value, timeout)
    if len(_local_values) >= LOCAL_VALUES_MAX:
        _local_forget_expired(_local_values, now)
    _local_values[key] = (now, value)
    return value, hit


def catalog_stock_levels_cached(
    product_id: int, read: Callable[[], dict[int, int]]
) -> dict[int, int]:
    """The product's {sku id: stock}: this process's copy when under LOCAL_SECONDS old, else
    read(). Shown stock may lag another process's move by that second; orders take stock by
    conditional UPDATE, so nothing is oversold. Never modify the answer."""
    now = time.monotonic()
    local = _local_stock.get(product_id)
    if local is not None and now - local[0] < LOCAL_SECONDS:
        return local[1]
    levels = read()
    if len(_local_stock) >= LOCAL_VALUES_MAX:
        _local_forget_expired(_local_stock, now)
    _local_stock[product_id] = (now, levels)
    return levels


def _local_forget_expired(copies: dict[Any, tuple[float, Any]], now: float) -> None:
    """Make room among this process's copies: drop the expired ones (old versions' entries
    among them), or all when under a quarter are (so each scan frees room enough to pay for it)."""
    expired = [key for key, (read_at, _) in copies.items() if now - read_at >= LOCAL_SECONDS]
    if len(expired) * 4 < len(copies):  # too few to be worth keeping the rest
        copies.clear()
        return
    for key in expired:
        del copies[key]


def catalog_stock_forget_local() -> None:
    """Drop this process's stock levels (a stock move: it shows here at once). No second drop
    after the commit: a read before it is at most a second stale, like another process's."""
    _local_stock.clear()
