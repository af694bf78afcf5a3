"""The reference gate agent: ``onecode-gate`` (or ``onecode gate-agent``).

Its own package: it needs only the TQ1 codes (``onecode.codes``) and the gate rules
(``onecode.gates.rules``), never the server (no web framework, no database driver,
no settings); a test keeps it so.

It reads scanned codes as lines on stdin (keyboard-wedge scanners type a code and
Enter), decides each one online with a short timeout and falls back to a local
decision from the sync pack, and prints one JSON decision line per code, with the reason's
label for the gate screen in the gate's language (``--lang``, zh-CN unless told).

Durability: every scan is committed to a local SQLite queue (WAL, synchronous=FULL)
*before* any network call, and its decision is committed *before* it is printed.
Killed at any moment, the agent loses nothing: on restart a scan whose decision was
never printed is uploaded as refused (``agent_interrupted``) — nobody was let through
on it — and the server's (gate, scan_id) idempotency turns any re-upload of a scan it
already holds into ``duplicate``, so none is counted twice.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import httpx

from onecode import i18n
from onecode.codes import KeyRing, PublicKey, PublicKeyInfo, verify
from onecode.codes.b64url import b64url_encode
from onecode.gates.rules import OfflineEntitlement, OfflineVenue, ScanReason, decide_offline

SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    scan_id    TEXT PRIMARY KEY,
    code       TEXT NOT NULL,
    direction  TEXT NOT NULL,
    scanned_at TEXT NOT NULL,
    decision   TEXT,
    reason     TEXT,
    party_size INTEGER NOT NULL DEFAULT 0,
    state      TEXT NOT NULL      -- new | online | queued | uploaded
);
CREATE INDEX IF NOT EXISTS scans_state ON scans (state);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS presence (
    cred_id TEXT NOT NULL, day TEXT NOT NULL, entries INTEGER NOT NULL, inside INTEGER NOT NULL,
    PRIMARY KEY (cred_id, day)
);
"""


def open_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    return db


@dataclass
class Decision:
    decision: str
    reason: str
    party_size: int


class PackState:
    """The last sync pack, kept in the queue database so a restart can decide offline."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.lock = threading.Lock()
        row = db.execute("SELECT value FROM kv WHERE key = 'pack'").fetchone()
        self.data: dict[str, Any] = json.loads(row[0]) if row else {}
        self.ring = self._ring()

    def _ring(self) -> KeyRing:
        infos: list[PublicKeyInfo] = self.data.get("keys", [])
        return KeyRing(PublicKey.from_info(i) for i in infos)

    @property
    def cursor(self) -> str | None:
        return self.data.get("cursor")

    def apply(self, pack: dict[str, Any]) -> None:
        with self.lock:
            data = {} if pack["full"] else dict(self.data)
            ents: dict[str, list[Any]] = {} if pack["full"] else dict(data.get("entitlements", {}))
            for row in pack["entitlements"]:
                ents[row[0]] = row
            revs: dict[str, int] = {} if pack["full"] else dict(data.get("revocations", {}))
            for cred_id, min_gen in pack["revocations"]:
                revs[cred_id] = max(min_gen, revs.get(cred_id, 0))
            data.update(
                cursor=pack["cursor"],
                venue=pack["venue"],
                keys=pack["keys"],
                entitlements=ents,
                revocations=revs,
            )
            self.db.execute(
                "INSERT INTO kv (key, value) VALUES ('pack', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (json.dumps(data),),
            )
            self.data = data
            self.ring = self._ring()

    def decide(self, code: str, direction: str, now: float, skew: int) -> Decision:
        """The offline rules (onecode.gates.rules.decide_offline) on the pack's data."""
        venue = self.data.get("venue")
        if venue is None:
            return Decision("reject", ScanReason.NO_PACK, 0)
        result = verify(code, self.ring, now, skew)
        cred = result.credential
        if cred is None:
            return Decision("reject", result.reason.value, 0)
        cred_b64 = b64url_encode(cred.cred_id)
        day = datetime.fromtimestamp(now, ZoneInfo(venue["timezone"])).date().isoformat()
        row = self.db.execute(
            "SELECT entries, inside FROM presence WHERE cred_id = ? AND day = ?", (cred_b64, day)
        ).fetchone()
        entries, inside = (row[0], bool(row[1])) if row else (0, False)
        outcome = decide_offline(
            verdict=result.reason.value,
            authentic=True,
            generation=cred.generation,
            min_generation=self.data["revocations"].get(cred_b64, 0),
            direction=direction,
            venue=OfflineVenue(
                entry_rule=venue["entry_rule"],
                requires_booking=venue["requires_booking"],
                early_grace_min=venue["early_grace_min"],
                late_grace_min=venue["late_grace_min"],
                active=venue.get("active", True),
            ),
            entitlements=[
                OfflineEntitlement(int(e[2]), float(e[3]), float(e[4]), str(e[5]))
                for e in self.data["entitlements"].values()
                if e[1] == cred_b64
            ],
            entries=entries,
            inside=inside,
            now=now,
        )
        return Decision(outcome.decision, outcome.reason.value, outcome.party_size)

    def remember(self, code: str, direction: str, now: float, decision: Decision) -> None:
        """Track who is inside, from online and offline accepts alike."""
        venue = self.data.get("venue")
        if venue is None or decision.decision != "accept":
            return
        result = verify(code, self.ring, now, 10**9)
        if result.credential is None:
            return
        cred_b64 = b64url_encode(result.credential.cred_id)
        day = datetime.fromtimestamp(now, ZoneInfo(venue["timezone"])).date().isoformat()
        add, inside = (1, 1) if direction == "in" else (0, 0)
        self.db.execute(
            "INSERT INTO presence (cred_id, day, entries, inside) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (cred_id, day) DO UPDATE SET entries = entries + excluded.entries, "
            "inside = excluded.inside",
            (cred_b64, day, add, inside),
        )


class Agent:
    def __init__(self, args: argparse.Namespace, skew: int) -> None:
        self.args = args
        self.skew = skew
        self.lang = str(getattr(args, "lang", i18n.ZH))
        Path(args.state_dir).mkdir(parents=True, exist_ok=True)
        self.db = open_db(Path(args.state_dir) / "queue.sqlite3")
        self.db_lock = threading.Lock()
        self.pack = PackState(self.db)
        headers = {"Authorization": f"Bearer {args.token}"}
        self.http = httpx.Client(base_url=args.url, headers=headers, timeout=args.timeout)
        self.bg_http = httpx.Client(base_url=args.url, headers=headers, timeout=10.0)
        self.stop = threading.Event()
        # scans whose decision was never printed: nobody went through on them
        with self.db_lock:
            self.db.execute(
                "UPDATE scans SET state = 'queued', decision = 'reject', "
                "reason = 'agent_interrupted', party_size = 0 WHERE state = 'new'"
            )

    # --- the scan loop ------------------------------------------------------------

    def handle(self, line: str, out: TextIO) -> None:
        code = line.strip()
        if not code:
            return
        direction = self.args.direction
        scan_id = str(uuid.uuid4())
        now = time.time()
        scanned_at = datetime.fromtimestamp(now, UTC).isoformat()
        with self.db_lock:
            self.db.execute(
                "INSERT INTO scans (scan_id, code, direction, scanned_at, state) "
                "VALUES (?, ?, ?, ?, 'new')",
                (scan_id, code, direction, scanned_at),
            )
        decision, mode = self._online(scan_id, code, direction, scanned_at), "online"
        if decision is None:
            decision, mode = self.pack.decide(code, direction, now, self.skew), "offline"
        with self.db_lock:
            self.db.execute(
                "UPDATE scans SET decision = ?, reason = ?, party_size = ?, state = ? "
                "WHERE scan_id = ?",
                (
                    decision.decision,
                    decision.reason,
                    decision.party_size,
                    "online" if mode == "online" else "queued",
                    scan_id,
                ),
            )
            self.pack.remember(code, direction, now, decision)
        out.write(
            json.dumps(
                {
                    "scan_id": scan_id,
                    "decision": decision.decision,
                    "reason": decision.reason,
                    # what the gate screen shows, in the gate's language (issue 19)
                    "label": i18n.reason_label(decision.reason, self.lang),
                    "party_size": decision.party_size,
                    "mode": mode,
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        out.flush()

    def _online(self, scan_id: str, code: str, direction: str, at: str) -> Decision | None:
        try:
            r = self.http.post(
                "/v1/gate/scans",
                json={"code": code, "direction": direction, "scan_id": scan_id, "scanned_at": at},
            )
        except httpx.HTTPError:
            return None
        if r.status_code != 200:
            return None
        body = r.json()
        return Decision(body["decision"], body["reason"], int(body.get("party_size") or 0))

    # --- background: uploads and pack sync ------------------------------------------

    def upload_once(self) -> int:
        with self.db_lock:
            rows = self.db.execute(
                "SELECT scan_id, code, direction, scanned_at, decision, reason, party_size "
                "FROM scans WHERE state = 'queued' ORDER BY rowid LIMIT ?",
                (self.args.batch,),
            ).fetchall()
        if not rows:
            return 0
        body = {
            "scans": [
                {
                    "scan_id": r[0],
                    "code": r[1],
                    "direction": r[2],
                    "scanned_at": r[3],
                    "decision": r[4],
                    "reason": r[5],
                    "party_size": r[6],
                }
                for r in rows
            ]
        }
        r = self.bg_http.post("/v1/gate/scans/batch", json=body)
        r.raise_for_status()
        done = [(x["scan_id"],) for x in r.json()["results"]]
        with self.db_lock:
            self.db.executemany("UPDATE scans SET state = 'uploaded' WHERE scan_id = ?", done)
        return len(done)

    def sync_once(self) -> None:
        params = {"cursor": self.pack.cursor} if self.pack.cursor else {}
        r = self.bg_http.get("/v1/gate/pack", params=params)
        r.raise_for_status()
        with self.db_lock:
            self.pack.apply(r.json())

    def pending(self) -> int:
        with self.db_lock:
            row = self.db.execute("SELECT count(*) FROM scans WHERE state = 'queued'").fetchone()
        return int(row[0])

    def background(self) -> None:
        backoff = 0.5
        next_sync = 0.0
        while not self.stop.is_set():
            try:
                if time.monotonic() >= next_sync:
                    self.sync_once()
                    next_sync = time.monotonic() + self.args.sync_interval
                while self.upload_once():
                    pass
                backoff = 0.5
                self.stop.wait(self.args.upload_interval)
            except (httpx.HTTPError, ValueError, KeyError):
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def run(self, stdin: TextIO, stdout: TextIO) -> int:
        worker = threading.Thread(target=self.background, daemon=True)
        worker.start()
        for line in stdin:
            self.handle(line, stdout)
        # end of input: drain the queue for a while, then stop
        deadline = time.monotonic() + self.args.drain_seconds
        while self.pending() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.stop.set()
        worker.join(timeout=5)
        left = self.pending()
        if left:
            print(
                f"gate-agent: {left} scans still queued; they upload on the next start",
                file=sys.stderr,
            )
        return 0


#: The clock difference tolerated when checking a code (the server's default).
DEFAULT_SKEW_SECONDS = 120


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The agent's options (``onecode-gate`` and ``onecode gate-agent`` share them)."""
    p.add_argument("--url", required=True, help="onecode API base URL, e.g. https://api.example")
    p.add_argument("--token", required=True, help="the gate's bearer token (oc_gate_…)")
    p.add_argument(
        "--state-dir", default=".onecode-gate", help="local queue folder (SQLite, survives kills)"
    )
    p.add_argument(
        "--direction", choices=["in", "out"], default="in", help="which way this gate counts"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=0.3,
        help="seconds to wait for the online decision before deciding offline",
    )
    p.add_argument("--batch", type=int, default=500, help="scans per upload of the offline queue")
    p.add_argument(
        "--upload-interval",
        type=float,
        default=2.0,
        help="seconds between uploads of queued offline decisions",
    )
    p.add_argument(
        "--sync-interval",
        type=float,
        default=60.0,
        help="seconds between downloads of the sync pack (keys, passes, bookings)",
    )
    p.add_argument(
        "--drain-seconds",
        type=float,
        default=10.0,
        help="at end of input, how long to keep uploading",
    )
    p.add_argument(
        "--lang",
        choices=list(i18n.LOCALES),
        default=i18n.ZH,
        help="language of the reason label printed with each decision (the gate screen's)",
    )


def run(args: argparse.Namespace, skew_seconds: int = DEFAULT_SKEW_SECONDS) -> int:
    """Read codes from stdin until it closes, then drain the queue for a while."""
    return Agent(args, skew_seconds).run(sys.stdin, sys.stdout)


def main(argv: list[str] | None = None) -> int:
    """``onecode-gate``: the agent on its own, without the server package's command."""
    p = argparse.ArgumentParser(
        prog="onecode-gate", description="reference gate: stdin codes, online with offline"
    )
    add_arguments(p)
    p.add_argument(
        "--skew",
        type=int,
        default=DEFAULT_SKEW_SECONDS,
        help="tolerated clock difference when checking a code offline (s)",
    )
    args = p.parse_args(argv)
    return run(args, args.skew)
