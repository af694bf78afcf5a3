"""Offline gates: delta packs, idempotent batch uploads, conflicts, refusals, limits."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.codes import Credential, SigningKey, issue, verify
from onecode.codes import KeyRing as Ring
from onecode.codes.b64url import b64url_encode
from tests.conftest import World
from tests.support.db import fetch_row

Client = AsyncTestClient[Litestar]


async def book(conn: asyncpg.Connection, world: World, tag: str, venue: str = "venue_a") -> str:
    """A booking through the API for a slot starting in ten minutes (inside the grace)."""
    start = datetime.now(UTC) + timedelta(minutes=10)
    slot = {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
        "capacity": 10,
    }
    slots = await world.post(f"/v1/venues/{world.ids[venue]}/slots", {"slots": [slot]})
    booking = await world.post(
        "/v1/bookings",
        {"slot_id": slots["slots"][0]["id"], "party_size": 2},
        headers=world.auth(f"traveller_{tag}"),
    )
    return str(booking["id"])


def item(code: str, direction: str = "in", decision: str = "accept", **kw: Any) -> dict[str, Any]:
    return {
        "scan_id": str(kw.pop("scan_id", uuid.uuid4())),
        "code": code,
        "direction": direction,
        "scanned_at": kw.pop("scanned_at", datetime.now(UTC).isoformat()),
        "decision": decision,
        "reason": kw.pop("reason", "ok" if decision == "accept" else "no_booking"),
        **kw,
    }


def cred_id_of(code: str, keys: list[dict[str, Any]]) -> str:
    result = verify(code, Ring.from_public_list(keys), time.time())
    assert result.credential is not None
    return b64url_encode(result.credential.cred_id)


async def test_full_then_delta_pack(client: Client, world: World, conn: asyncpg.Connection) -> None:
    await world.traveller("a")
    await world.traveller("b")
    booking_a = await book(conn, world, "a")
    gate = world.auth("gate_a")
    r = await client.get("/v1/gate/pack", headers=gate)
    assert r.status_code == 200, r.text
    full = r.json()
    assert full["full"] is True
    assert full["venue"]["entry_rule"] == "single"
    assert [e[0] for e in full["entitlements"]] == [booking_a]
    code_a = await world.code("a")
    assert full["entitlements"][0][1] == cred_id_of(code_a, full["keys"])
    assert full["entitlement_fields"][:2] == ["booking_id", "cred_id"]
    assert full["keys"]
    raw = r.text
    assert world.ids["traveller_a"] not in raw  # no traveller ids in a pack

    # a new booking, a cancellation and a revocation appear in the next delta
    booking_b = await book(conn, world, "b")
    code_b = await world.code("b")
    r = await client.post(f"/v1/bookings/{booking_a}/cancel", headers=world.auth("traveller_a"))
    assert r.status_code == 200, r.text
    r = await client.post("/v1/me/code/rotate", headers=world.auth("traveller_b"))
    assert r.status_code == 200, r.text
    r_rotated = r.json()
    r = await client.get("/v1/gate/pack", params={"cursor": full["cursor"]}, headers=gate)
    delta = r.json()
    assert delta["full"] is False
    statuses = {e[0]: e[5] for e in delta["entitlements"]}
    assert statuses == {booking_a: "cancelled", booking_b: "booked"}
    # rotation revoked b's credential for good (a new cred_id replaces it) ...
    assert [cred_id_of(code_b, full["keys"]), 2147483647] in delta["revocations"]
    # ... and b's booking comes again, under the new credential
    new_b = cred_id_of(r_rotated["code"], full["keys"])
    assert [e[1] for e in delta["entitlements"] if e[0] == booking_b] == [new_b]

    # garbage cursors are a 400, never a 500; a very old one gives a full pack
    for bad in ("nope", "v1.abc", "v2.123", "v1." + "9" * 30):
        r = await client.get("/v1/gate/pack", params={"cursor": bad}, headers=gate)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["code"] == "pack.bad_cursor"
    r = await client.get("/v1/gate/pack", params={"cursor": "v1.1000"}, headers=gate)
    assert r.json()["full"] is True
    # only gates
    for who in ("traveller_a", "operator_a", "planner_x", "admin"):
        assert (await client.get("/v1/gate/pack", headers=world.auth(who))).status_code == 403


async def test_upload_is_idempotent_and_counts(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("a")
    booking = await book(conn, world, "a")
    code = await world.code("a")
    now = datetime.now(UTC)
    batch = [
        item(code, "in", party_size=2, scanned_at=(now - timedelta(minutes=20)).isoformat()),
        item(code, "out", party_size=2, scanned_at=(now - timedelta(minutes=5)).isoformat()),
        item(code, "in", "reject", reason="already_used"),
    ]
    gate = world.auth("gate_a")
    r = await client.post("/v1/gate/scans/batch", json={"scans": batch}, headers=gate)
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["recorded"] * 3
    r = await client.post("/v1/gate/scans/batch", json={"scans": batch}, headers=gate)
    assert [x["status"] for x in r.json()["results"]] == ["duplicate"] * 3
    assert await conn.fetchval("SELECT count(*) FROM scans") == 3
    assert (
        await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(booking))
        == "used"
    )
    live = (
        await client.get(
            f"/v1/venues/{world.ids['venue_a']}/live", headers=world.auth("operator_a")
        )
    ).json()
    assert live["inside"] == 0
    assert live["entries_today"] == 2
    row = await fetch_row(conn, "SELECT entries, inside FROM presence")
    assert (row["entries"], row["inside"]) == (1, False)


async def test_two_offline_gates_admitting_one_pass_are_flagged(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("a")
    await book(conn, world, "a")
    code = await world.code("a")
    second = await world.post(f"/v1/admin/venues/{world.ids['venue_a']}/gates", {"name": "east"})
    now = datetime.now(UTC)
    # (the code was issued just now: scans within the clock skew of its not_before)
    first = item(code, scanned_at=(now - timedelta(seconds=60)).isoformat())
    other = item(code, scanned_at=(now - timedelta(seconds=50)).isoformat())
    r1 = await client.post(
        "/v1/gate/scans/batch", json={"scans": [first]}, headers=world.auth("gate_a")
    )
    r2 = await client.post(
        "/v1/gate/scans/batch",
        json={"scans": [other]},
        headers={"Authorization": f"Bearer {second['token']}"},
    )
    assert r1.json()["results"][0]["status"] == "recorded"
    assert r2.json()["results"][0]["status"] == "conflict"
    # both are facts: two people inside
    assert await conn.fetchval("SELECT sum(ins) FROM venue_counters") == 2
    r = await client.get(
        f"/v1/venues/{world.ids['venue_a']}/conflicts", headers=world.auth("operator_a")
    )
    assert r.status_code == 200
    conflicts = r.json()["conflicts"]
    assert len(conflicts) == 1
    assert conflicts[0]["scan"]["scan_id"] == other["scan_id"]
    assert [e["scan_id"] for e in conflicts[0]["earlier"]] == [first["scan_id"]]
    assert world.ids["traveller_a"] not in r.text
    # operator of B: 404; gate: 403
    assert (
        await client.get(
            f"/v1/venues/{world.ids['venue_a']}/conflicts", headers=world.auth("operator_b")
        )
    ).status_code == 404
    assert (
        await client.get(
            f"/v1/venues/{world.ids['venue_a']}/conflicts", headers=world.auth("gate_a")
        )
    ).status_code == 403


async def test_forged_and_absurd_items_are_rejected_never_entries(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("a")
    code = await world.code("a")
    stranger = SigningKey.generate(1, datetime.now(UTC))
    forged = issue(
        Credential(1, b"\x01" * 16, 1, int(time.time()) - 10, int(time.time()) + 999), stranger
    )
    flipped = code[:-1] + ("A" if code[-1] != "A" else "B")
    batch = [
        item(forged),
        item(flipped),
        item("garbage"),
        item(code, scanned_at="1990-01-01T00:00:00+00:00"),
        item(code),
    ]
    r = await client.post(
        "/v1/gate/scans/batch", json={"scans": batch}, headers=world.auth("gate_a")
    )
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["rejected"] * 4 + ["recorded"]
    assert results[2]["reason"] == "invalid_code"
    assert results[3]["reason"] == "bad_time"
    rows = await conn.fetch("SELECT decision, reason FROM scans ORDER BY seq")
    assert [r["decision"] for r in rows] == ["reject"] * 4 + ["accept"]
    assert await conn.fetchval("SELECT sum(ins) FROM venue_counters") == 1


async def test_batch_limits_and_bad_bodies(client: Client, world: World) -> None:
    await world.traveller("a")
    code = await world.code("a")
    gate = world.auth("gate_a")
    r = await client.post(
        "/v1/gate/scans/batch", json={"scans": [item(code) for _ in range(5001)]}, headers=gate
    )
    assert r.status_code == 413
    assert r.json()["code"] == "scans.batch_too_large"
    same = item(code)
    r = await client.post("/v1/gate/scans/batch", json={"scans": [same, same]}, headers=gate)
    assert r.status_code == 400
    bad: dict[str, Any]
    for bad in (
        {"scans": [{**item(code), "direction": "sideways"}]},
        {"scans": [{**item(code), "scanned_at": "2026-01-01T00:00:00"}]},
        {"scans": [{**item(code), "extra": 1}]},
        {"scans": [{**item(code), "scan_id": "nope"}]},
        {"scans": [{**item(code), "code": "x" * 1000}]},
        {"scan": []},
    ):
        r = await client.post("/v1/gate/scans/batch", json=bad, headers=gate)
        assert r.status_code == 400, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.post("/v1/gate/scans/batch", json={"scans": []}, headers=gate)).json() == {
        "results": []
    }
