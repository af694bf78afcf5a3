"""The in-process caches (cachetools underneath): what each keeps, and for how long."""

from __future__ import annotations

import time
import uuid

from onecode.auth import Kind, Principal, TokenCache
from onecode.identity.images import ImageCache, ImageKey


def _key(n: int) -> ImageKey:
    return (b"cred", n, 1, "png")


def test_token_cache_keeps_a_principal_for_its_ttl_only() -> None:
    p = Principal(kind=Kind.GATE, id=uuid.uuid4())
    cache = TokenCache(0.05)
    cache.put(b"t", p)
    assert cache.get(b"t") is p
    time.sleep(0.08)
    assert cache.get(b"t") is None


def test_token_cache_off_and_bounded_and_forgets_revoked() -> None:
    p, q = Principal(kind=Kind.GATE, id=uuid.uuid4()), Principal(kind=Kind.ADMIN, id=uuid.uuid4())
    off = TokenCache(0)
    off.put(b"t", p)
    assert off.get(b"t") is None
    cache = TokenCache(60, max_entries=2)
    cache.put(b"a", p)
    cache.put(b"b", q)
    cache.put(b"c", p)  # over the bound: the least recently used goes
    assert cache.get(b"a") is None and cache.get(b"b") is q and cache.get(b"c") is p
    cache.forget_principal(p.id)
    assert cache.get(b"c") is None and cache.get(b"b") is q


def test_image_cache_is_bounded_by_entries_and_bytes() -> None:
    cache = ImageCache(max_entries=3, max_bytes=10)
    for n in range(5):
        cache.put(_key(n), b"ab")
    assert len(cache) == 3 and cache.get(_key(0)) is None and cache.get(_key(4)) == b"ab"
    assert cache.get(_key(2)) == b"ab"  # now the most recently used but one
    cache.put(_key(9), b"x" * 8)  # 8 bytes: the others leave until it fits
    assert cache.get(_key(9)) == b"x" * 8 and len(cache) <= 2
    cache.put(_key(10), b"x" * 11)  # bigger than the whole cache: not kept
    assert cache.get(_key(10)) is None
    assert cache.hits >= 3 and cache.misses == 2
