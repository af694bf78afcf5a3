"""The gate's key ring cache keeps one ring object while the public keys stay the same,
so that what is cached per ring (the upload's VerifyCache) survives the periodic
rebuild; a change of keys gives a new ring at once."""

from __future__ import annotations

from pathlib import Path

from onecode.codes import KeyStore
from onecode.gates.service import RingCache


def test_the_same_keys_keep_the_same_ring_and_new_keys_give_a_new_one(tmp_path: Path) -> None:
    store = KeyStore(data_dir=tmp_path)
    cache = RingCache(store, ttl=0.0)  # rebuilt on every call
    first = cache.ring()
    assert cache.ring() is first
    store.rotate()
    rotated = cache.ring()
    assert rotated is not first
    assert len(rotated.keys) == len(first.keys) + 1
    assert cache.ring() is rotated
