"""The offline upload's signature cache (``VerifyCache``): what it keeps when the key ring
changes while a batch's signatures are being checked on the verify threads."""

from __future__ import annotations

import asyncio
import secrets
import time

from onecode.codes import Credential, KeyRing, Reason, SigningKey, issue, verify
from onecode.offline.service import VerifyCache

# above the inline threshold: the signatures go to the verify threads (an await)
MANY = 80


def _codes(key: SigningKey, n: int) -> list[str]:
    now = int(time.time())
    return [
        issue(Credential(key.kid, secrets.token_bytes(16), 1, now - 60, now + 3600), key)
        for _ in range(n)
    ]


def _key() -> SigningKey:
    return SigningKey(7, secrets.token_bytes(32))


async def test_a_key_retired_during_a_batch_does_not_stay_verified() -> None:
    """A batch checked under the old ring must not fill the cache of the new one: a code
    of the retired key was answered from the cache as still well signed."""
    key = _key()
    old, new = KeyRing([key.public()]), KeyRing([])
    codes = _codes(key, MANY)
    cache = VerifyCache()
    now = time.time()
    batch = asyncio.create_task(cache.check_all([(c, now) for c in codes], old, 120))
    await asyncio.sleep(0)  # the batch now waits for the verify threads
    await cache.check_all([], new, 120)  # another request: the ring changed
    assert all(v.ok for v in await batch)  # judged under the ring it started with
    again = await cache.check_all([(codes[0], now)], new, 120)
    assert not again[0].ok
    assert again[0].reason is verify(codes[0], new, now).reason is Reason.UNKNOWN_KEY


async def test_a_cache_cleared_during_a_batch_still_answers_its_hits() -> None:
    """A code found in the cache when the batch started is judged even if another request
    clears the cache meanwhile (it was a KeyError: a 500 for the whole upload)."""
    key = _key()
    ring = KeyRing([key.public()])
    known, *fresh = _codes(key, MANY + 1)
    cache = VerifyCache()
    now = time.time()
    assert (await cache.check_all([(known, now)], ring, 120))[0].ok
    batch = asyncio.create_task(cache.check_all([(c, now) for c in [known, *fresh]], ring, 120))
    await asyncio.sleep(0)
    await cache.check_all([], KeyRing([key.public()]), 120)  # a rebuilt ring clears it
    assert [v.ok for v in await batch] == [True] * (MANY + 1)


async def test_forged_and_expired_codes_in_a_batch() -> None:
    """Every code of a batch is judged as ``verify`` judges it alone, at its scan time."""
    key, other = _key(), SigningKey(7, secrets.token_bytes(32))
    ring = KeyRing([key.public()])
    good = _codes(key, MANY)
    forged = _codes(other, 3)  # same kid, another key: a bad signature
    now = time.time()
    scans = [(c, now) for c in good + forged] + [(good[0], now + 7200), ("TQ1:junk", now)]
    got = await VerifyCache().check_all(scans, ring, 120)
    assert [v.reason for v in got] == [verify(c, ring, t).reason for c, t in scans]
    assert [v.credential for v in got] == [verify(c, ring, t).credential for c, t in scans]
