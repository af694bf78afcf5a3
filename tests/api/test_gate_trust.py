"""Gate trust (issue #15): screenshots, stale codes and forged uploads cannot move people
or numbers. One test per hole, each failing on the code before the fix; races run on
many real connections."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from onecode.codes import Credential, issue
from tests.api.test_offline import book, item
from tests.conftest import World, bearer

Client = AsyncTestClient[Litestar]


async def upload(client: Client, token: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = await client.post("/v1/gate/scans/batch", json={"scans": items}, headers=bearer(token))
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


async def live(client: Client, world: World, venue: str) -> dict[str, Any]:
    r = await client.get(f"/v1/venues/{world.ids[venue]}/live", headers=world.auth("admin"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


# --- hole 2: offline uploads cannot rewrite occupancy -------------------------------------


async def test_forged_exits_cannot_lift_the_cap(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    """1,000 ``out`` items of party 100 from one code: never below zero, nothing freed."""
    venue = await world.venue(
        "CN-GZ-AS", "Cave", requires_booking=False, entry_rule="reentry", capacity_instant=100
    )
    await conn.execute(
        "UPDATE venues SET occupancy_cap_pct = 50, live_code_required = false WHERE id = $1",
        uuid.UUID(venue["id"]),
    )
    world.ids["cave"] = venue["id"]
    gate = (await world.post(f"/v1/admin/venues/{venue['id']}/gates", {"name": "g"}))["token"]
    await world.traveller("x")
    forger = await world.code("x")
    forged = [
        item(forger, "out", party_size=100, scanned_at=at(-100 + i * 0.05)) for i in range(1000)
    ]
    results = await upload(client, gate, forged)
    assert {r["status"] for r in results} == {"rejected"}
    assert {r["reason"] for r in results} == {"party_too_large"}
    # fill the cave to its cap of 50 through the online gate
    for i in range(50):
        await world.traveller(f"p{i}")
        code = await world.code(f"p{i}")
        r = await client.post(
            "/v1/gate/scans",
            json={
                "code": code,
                "direction": "in",
                "scan_id": str(uuid.uuid4()),
                "scanned_at": at(0),
            },
            headers=bearer(gate),
        )
        assert r.json()["decision"] == "accept", r.text
    # exits of party 1 from the forger (who never entered): not counted either
    small = [item(forger, "out", scanned_at=at(-50 + i * 0.01)) for i in range(100)]
    results = await upload(client, gate, small)
    assert {(r["status"], r.get("reason")) for r in results} == {("rejected", "not_inside")}
    assert (await live(client, world, "cave"))["inside"] == 50
    await world.traveller("late")
    code = await world.code("late")
    r = await client.post(
        "/v1/gate/scans",
        json={"code": code, "direction": "in", "scan_id": str(uuid.uuid4()), "scanned_at": at(0)},
        headers=bearer(gate),
    )
    assert (r.json()["decision"], r.json()["reason"]) == ("reject", "venue_full")
    counters = await conn.fetchrow("SELECT sum(ins) AS ins, sum(outs) AS outs FROM venue_counters")
    assert counters is not None and (counters["ins"], counters["outs"]) == (50, 0)
    # every refused item is kept for the operator, never counted
    assert await conn.fetchval("SELECT count(*) FROM scans WHERE flag = 'refused_upload'") == 1100
    r = await client.get(
        f"/v1/venues/{venue['id']}/conflicts", params={"limit": 1000}, headers=world.auth("admin")
    )
    kinds = {c["kind"] for c in r.json()["conflicts"]}
    assert kinds == {"refused_upload"}


async def test_forged_entries_cannot_fill_the_venue(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    """5,000 ``in`` items of party 100 from one code: refused; party-1 floods count one."""
    await world.traveller("a")
    await book(conn, world, "a")  # a booking of party 2
    code = await world.code("a")
    gate = world.tokens["gate_a"]
    huge = [item(code, party_size=100, scanned_at=at(-110 + i * 0.01)) for i in range(5000)]
    results = await upload(client, gate, huge)
    assert {(r["status"], r.get("reason")) for r in results} == {("rejected", "party_too_large")}
    assert (await live(client, world, "venue_a"))["inside"] == 0
    # within the party, a flood of entries without exits counts the party once
    flood = [item(code, party_size=2, scanned_at=at(-50 + i * 0.01)) for i in range(500)]
    results = await upload(client, gate, flood)
    # every entry after the first is a double entry (and the first takes part in them)
    assert {r["status"] for r in results} == {"conflict"}
    assert (await live(client, world, "venue_a"))["inside"] == 2
    # another traveller is admitted as usual
    await world.traveller("b")
    await book(conn, world, "b")
    other = await upload(client, gate, [item(await world.code("b"), party_size=2)])
    assert other[0]["status"] == "recorded"
    assert (await live(client, world, "venue_a"))["inside"] == 4


async def test_uploaded_reasons_must_be_known_codes(client: Client, world: World) -> None:
    await world.traveller("a")
    code = await world.code("a")
    r = await client.post(
        "/v1/gate/scans/batch",
        json={"scans": [item(code, "in", "reject", reason="made_up_reason")]},
        headers=world.auth("gate_a"),
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "reason" in r.text


# --- hole 3: stale codes are flagged, not silent visits ---------------------------------------


async def test_stale_codes_are_kept_counted_flagged_and_no_visit(
    client: Client, world: World, conn: asyncpg.Connection, app: Litestar
) -> None:
    venue = await world.venue("CN-GZ-AS", "Park", requires_booking=False, entry_rule="reentry")
    world.ids["park"] = venue["id"]
    gate = (await world.post(f"/v1/admin/venues/{venue['id']}/gates", {"name": "g"}))["token"]
    key = app.state.keystore.signing_key

    # expired when scanned
    await world.traveller("e")
    cred_e = await conn.fetchval(
        "SELECT cred_id FROM credentials WHERE traveller_id = $1",
        uuid.UUID(world.ids["traveller_e"]),
    )
    now = int(datetime.now(UTC).timestamp())
    expired = issue(Credential(key.kid, bytes(cred_e), 1, now - 7200, now - 3600), key)
    # rotated away before the scan
    await world.traveller("r")
    old = await world.code("r")
    assert (
        await client.post("/v1/me/code/rotate", headers=world.auth("traveller_r"))
    ).status_code == 200
    # erased before the scan
    await world.traveller("x")
    erased = await world.code("x")
    assert (await client.delete("/v1/me", headers=world.auth("traveller_x"))).status_code == 204
    # a current code, for comparison
    await world.traveller("c")
    current = await world.code("c")

    # scanned just now, after the rotation and the erasure (within the clock skew)
    batch = [item(c, scanned_at=at(1)) for c in (expired, old, erased, current)]
    results = await upload(client, gate, batch)
    assert [(r["status"], r.get("flag")) for r in results] == [
        ("recorded", "stale_code"),
        ("recorded", "stale_code"),
        ("recorded", "stale_code"),
        ("recorded", None),
    ]
    # counted in occupancy: the people walked in
    assert (await live(client, world, "park"))["inside"] == 4
    # listed for the operator
    r = await client.get(f"/v1/venues/{venue['id']}/conflicts", headers=world.auth("admin"))
    listed = {c["scan"]["scan_id"]: c["kind"] for c in r.json()["conflicts"]}
    assert listed == {b["scan_id"]: "stale_code" for b in batch[:3]}
    # not a verified visit: no review on a stale entry; a current one may review
    body = {"rating": 5, "text": "Lovely."}
    path = f"/v1/venues/{venue['id']}/reviews"
    r = await client.post(path, json=body, headers=world.auth("traveller_e"))
    assert r.status_code == 403, r.text
    r = await client.post(path, json=body, headers=world.auth("traveller_c"))
    assert r.status_code == 201, r.text


# --- hole 4: a conflict is found whatever the upload order ------------------------------------


async def test_conflict_found_when_the_earlier_scan_uploads_last(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("a")
    await book(conn, world, "a")
    code = await world.code("a")
    gate_b = (await world.post(f"/v1/admin/venues/{world.ids['venue_a']}/gates", {"name": "b"}))[
        "token"
    ]
    at_a = item(code, scanned_at=at(-60))  # gate A admits first, stays offline
    at_b = item(code, scanned_at=at(-55))  # gate B admits the same pass later, uploads at once
    assert (await upload(client, gate_b, [at_b]))[0]["status"] == "recorded"
    results = await upload(client, world.tokens["gate_a"], [at_a])
    assert results[0]["status"] == "conflict"
    r = await client.get(
        f"/v1/venues/{world.ids['venue_a']}/conflicts", headers=world.auth("operator_a")
    )
    conflicts = r.json()["conflicts"]
    assert len(conflicts) == 1
    # the operator sees both scans: the later one flagged, the earlier one beside it
    assert conflicts[0]["kind"] == "double_entry"
    assert conflicts[0]["scan"]["scan_id"] == at_b["scan_id"]
    assert [e["scan_id"] for e in conflicts[0]["earlier"]] == [at_a["scan_id"]]
    # one pass of party 2 counts at most its party
    assert (await live(client, world, "venue_a"))["inside"] <= 2


# --- hole 5: one record per (gate, scan_id) under any concurrency -----------------------------


async def test_racing_batches_sharing_scan_ids_store_each_once(
    client: Client, world: World, conn: asyncpg.Connection, db_url: str, app: Litestar
) -> None:
    """Three batches on three real connections, the same 300 scan ids, different codes;
    an online scan racing them with one of the ids: exactly one record per id."""
    from onecode.gates import service as gates
    from onecode.gates.models import ScanIn
    from onecode.offline import service as offline
    from onecode.offline.models import UploadIn

    for t in ("a", "b", "c"):
        await world.traveller(t)
        await book(conn, world, t)
    codes = [await world.code(t) for t in ("a", "b", "c")]
    ids = [uuid.uuid4() for _ in range(300)]
    gate_id = uuid.UUID(world.ids["gate_a"])
    venue_id = uuid.UUID(world.ids["venue_a"])
    ring = app.state.keystore.ring()
    await conn.execute("UPDATE venues SET live_code_required = false WHERE id = $1", venue_id)

    def batch(code: str) -> UploadIn:
        return UploadIn(
            scans=[
                msgspec_item(code, sid, datetime.now(UTC) - timedelta(seconds=30)) for sid in ids
            ]
        )

    for _round in range(5):
        await conn.execute("DELETE FROM scans; DELETE FROM gate_scan_ids; DELETE FROM presence")
        conns = [await asyncpg.connect(db_url) for _ in range(4)]
        try:

            async def one_batch(c: asyncpg.Connection, code: str) -> None:
                await offline.upload(
                    c, gate_id, venue_id, batch(code), ring, offline.VerifyCache(), 5000, 120
                )

            async def one_scan(c: asyncpg.Connection) -> None:
                scan = ScanIn(
                    code=codes[0], direction="in", scan_id=ids[150], scanned_at=datetime.now(UTC)
                )
                await gates.scan(c, ring, gate_id, venue_id, scan, 120)

            await asyncio.gather(
                *(one_batch(c, code) for c, code in zip(conns[:3], codes, strict=True)),
                one_scan(conns[3]),
            )
        finally:
            await asyncio.gather(*(c.close() for c in conns))
        stored = await conn.fetchval("SELECT count(*) FROM scans WHERE gate_id = $1", gate_id)
        distinct = await conn.fetchval(
            "SELECT count(DISTINCT scan_id) FROM scans WHERE gate_id = $1", gate_id
        )
        assert (stored, distinct) == (300, 300)


def msgspec_item(code: str, scan_id: uuid.UUID, scanned_at: datetime) -> Any:
    from onecode.gates.rules import ScanReason
    from onecode.offline.models import UploadItem

    return UploadItem(
        scan_id=scan_id,
        code=code,
        direction="in",
        scanned_at=scanned_at,
        decision="accept",
        reason=ScanReason.OK,
        party_size=1,
    )


async def test_a_found_conflict_is_an_event_for_the_venue(
    client: Client, world: World, conn: asyncpg.Connection
) -> None:
    await world.traveller("a")
    await book(conn, world, "a")
    code = await world.code("a")
    first, second = item(code, scanned_at=at(-60)), item(code, scanned_at=at(-50))
    await upload(client, world.tokens["gate_a"], [first, second])
    rows = await conn.fetch("SELECT type, venue_id, payload FROM events")
    found = [r for r in rows if r["type"] == "gate.conflict_found"]
    assert len(found) == 1
    assert found[0]["venue_id"] == uuid.UUID(world.ids["venue_a"])
    assert world.ids["traveller_a"] not in str(found[0]["payload"])
    # the same conflict uploaded again is no new event
    await upload(client, world.tokens["gate_a"], [first, second])
    assert (
        await conn.fetchval("SELECT count(*) FROM events WHERE type = 'gate.conflict_found'") == 1
    )
