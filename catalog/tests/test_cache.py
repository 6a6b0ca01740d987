import pytest
from django.core.cache import cache

from catalog import cache as catalog_cache


@pytest.fixture(autouse=True)
def _no_local_copy():
    catalog_cache.catalog_cache_forget_local()


def test_own_bump_shows_at_once():
    # given: this process holds a copy of the version
    before = catalog_cache.catalog_cache_version()
    # when
    catalog_cache.catalog_cache_bump()
    # then
    assert catalog_cache.catalog_cache_version() > before


def test_other_process_bump_shows_within_a_second():
    # given: this process holds a copy of the version
    before = catalog_cache.catalog_cache_version()
    # when: another process bumps it
    cache.incr(catalog_cache.VERSION_KEY)
    # then: the copy is kept under LOCAL_SECONDS, then the shared version is read
    assert catalog_cache.catalog_cache_version() == before
    read_at, version = catalog_cache._local_version
    catalog_cache._local_version = (read_at - catalog_cache.LOCAL_SECONDS, version)
    assert catalog_cache.catalog_cache_version() == before + 1


def test_bump_after_the_version_was_evicted_starts_a_fresh_one():
    # given
    before = catalog_cache.catalog_cache_version()
    cache.delete(catalog_cache.VERSION_KEY)
    # when
    catalog_cache.catalog_cache_bump()
    # then
    assert catalog_cache.catalog_cache_version() > before
    assert int(cache.get(catalog_cache.VERSION_KEY)) == catalog_cache.catalog_cache_version()


def test_values_are_kept_locally_for_a_second():
    # given
    key = catalog_cache.catalog_cache_key("test")
    builds = []
    assert catalog_cache.catalog_cached(key, lambda: builds.append(1) or "one") == ("one", False)
    # when: the shared entry goes (another process's value would replace it)
    cache.set(key, "two")
    # then: this process's copy serves for LOCAL_SECONDS, then the shared one
    assert catalog_cache.catalog_cached(key, lambda: "built") == ("one", True)
    read_at, value = catalog_cache._local_values[key]
    catalog_cache._local_values[key] = (read_at - catalog_cache.LOCAL_SECONDS, value)
    assert catalog_cache.catalog_cached(key, lambda: "built") == ("two", True)
    assert builds == [1]


def test_own_bump_changes_every_key_at_once():
    # given
    before = catalog_cache.catalog_cache_key("test")
    catalog_cache.catalog_cached(before, lambda: "old")
    # when
    catalog_cache.catalog_cache_bump()
    after = catalog_cache.catalog_cache_key("test")
    # then
    assert after != before
    assert catalog_cache.catalog_cached(after, lambda: "new") == ("new", False)


def test_a_full_set_of_copies_drops_the_expired_ones_first(monkeypatch):
    # given: a full set of copies, half of them expired
    monkeypatch.setattr(catalog_cache, "LOCAL_VALUES_MAX", 4)
    fresh_at = catalog_cache.time.monotonic()
    expired_at = fresh_at - catalog_cache.LOCAL_SECONDS
    for name, read_at in (("a", expired_at), ("b", fresh_at), ("c", expired_at), ("d", fresh_at)):
        catalog_cache._local_values[name] = (read_at, name)
    # when
    catalog_cache.catalog_cached("e", lambda: "e")
    # then: the fresh copies stay
    assert sorted(catalog_cache._local_values) == ["b", "d", "e"]
