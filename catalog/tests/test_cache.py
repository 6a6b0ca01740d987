import pytest
from django.core.cache import cache

from catalog import cache as catalog_cache


@pytest.fixture(autouse=True)
def _no_local_copy(monkeypatch):
    monkeypatch.setattr(catalog_cache, "_local_version", None)


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
    # then: the copy is kept under LOCAL_VERSION_SECONDS, then the shared version is read
    assert catalog_cache.catalog_cache_version() == before
    read_at, version = catalog_cache._local_version
    catalog_cache._local_version = (read_at - catalog_cache.LOCAL_VERSION_SECONDS, version)
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
