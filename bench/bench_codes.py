"""Benchmark the TQ1 package: verify, issue, and issue+render (PNG, SVG) per second.

Run from the repository root: `python -m bench.bench_codes [N]` or
`PYTHONPATH=. python bench/bench_codes.py [N]`. Single process, time.perf_counter, median of
3 rounds. Not a test.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from onecode.codes import (
    Credential,
    KeyRing,
    SigningKey,
    issue,
    new_cred_id,
    render_png,
    render_svg,
    screenshot_suffix,
    verify,
)

SECRET = bytes(32)


def rate(name: str, n: int, fn: Callable[[int], object]) -> float:
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        rounds.append(n / (time.perf_counter() - start))
    median = statistics.median(rounds)
    print(f"{name:<34} {median:>10,.0f}/s  ({1000 / median:.3f} ms each, n={n})")
    return median


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    key = SigningKey.generate(1, datetime.now(UTC))
    ring = KeyRing([key.public()])
    now = int(time.time())
    creds = [Credential(1, new_cred_id(), 1, now - 60, now + 86_400) for _ in range(n)]
    codes = [issue(c, key) for c in creds]
    full = [c + screenshot_suffix(c, SECRET, now) for c in codes]
    bad = [c[:-1] + ("0" if c[-1] != "0" else "1") for c in codes]

    def check_ok(i: int) -> None:
        assert verify(full[i], ring, now).ok

    def check_bad(i: int) -> None:
        assert not verify(bad[i], ring, now).ok

    rate("verify (valid, with suffix)", n, check_ok)
    rate("verify (tampered last char)", n, check_bad)
    rate("verify (garbage text)", n, lambda i: verify("TQ1:nope", ring, now))
    rate("issue", n, lambda i: issue(creds[i], key))
    m = max(n // 10, 50)
    rate("issue + render PNG (fixed mask)", m, lambda i: render_png(issue(creds[i], key)))
    rate("issue + render SVG (fixed mask)", m, lambda i: render_svg(issue(creds[i], key)))
    rate(
        "issue + render PNG (mask search)",
        m,
        lambda i: render_png(issue(creds[i], key), mask_pattern=None),
    )
    rate(
        "issue + render SVG (mask search)",
        m,
        lambda i: render_svg(issue(creds[i], key), mask_pattern=None),
    )


if __name__ == "__main__":
    main()
