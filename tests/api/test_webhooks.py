"""Webhooks end to end with a real receiver on loopback: subscriptions and their scope,
the SSRF policy, Standard Webhooks signatures checked by the library's verifier,
retries after 500s and timeouts with the same webhook-id, dead letters and replay."""

from __future__ import annotations

import asyncio
import base64
import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from standardwebhooks.webhooks import WebhookVerificationError

from onecode.db import create_pool
from onecode.settings import Settings
from onecode.webhooks.signing import SecretSealer
from onecode.webhooks.worker import DeliveryWorker, refresh_queue_gauges
from tests.conftest import ADMIN, World
from tests.support.receiver import Receiver
from tests.support.webhooks import (
    Client,
    allow_loopback,
    fields,
    ping,
    running_worker,
    started_receiver,
    subscribe,
    verify,
    wait_state,
    webhook_settings,
)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return webhook_settings(db_url, tmp_path)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with started_receiver() as r:
        yield r


async def test_secret_is_shown_once_and_stored_sealed(
    client: Client, receiver: Receiver, conn: asyncpg.Connection
) -> None:
    url = receiver.url
    await allow_loopback(client)
    created = await subscribe(client, url, description="bureau")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    sub_id = created["subscription"]["id"]
    r = await client.get(f"/v1/webhooks/{sub_id}", headers=ADMIN)
    assert r.status_code == 200
    assert "secret" not in r.json() and secret not in r.text
    listed = await client.get("/v1/webhooks", headers=ADMIN)
    assert secret not in listed.text and listed.json()["items"][0]["id"] == sub_id
    stored = await conn.fetchval("SELECT secret_box FROM webhook_subscriptions")
    assert secret.encode() not in stored and secret[6:].encode() not in stored


async def test_ping_is_signed_per_standard_webhooks(
    client: Client, receiver: Receiver, settings: Settings
) -> None:
    url = receiver.url
    await allow_loopback(client)
    created = await subscribe(client, url)
    sub_id = created["subscription"]["id"]
    async with running_worker(settings):
        queued = await ping(client, sub_id)
        got = (await receiver.wait_for(1))[0]
        detail = await wait_state(client, sub_id, queued["id"], "delivered")
    payload = verify(created["secret"], got.body, got.headers)
    assert payload["type"] == "webhook.ping"
    assert got.headers["webhook-id"] == queued["webhook_id"]
    assert got.headers["content-type"] == "application/json"
    assert detail["delivery"]["attempts"] == 1
    assert [a["outcome"] for a in detail["attempt_log"]] == ["delivered"]
    with pytest.raises(WebhookVerificationError):
        verify("whsec_" + "A" * 43, got.body, got.headers)
    tampered = got.body.replace(b"ping", b"pong")
    with pytest.raises(WebhookVerificationError):
        verify(created["secret"], tampered, got.headers)


async def test_retries_after_500_and_timeout_keep_the_webhook_id(
    client: Client, receiver: Receiver, settings: Settings
) -> None:
    url = receiver.url
    await allow_loopback(client)
    created = await subscribe(client, url)
    sub_id = created["subscription"]["id"]
    receiver.script.extend([500, "hang", 503, 200])
    async with running_worker(settings):
        queued = await ping(client, sub_id)
        got = await receiver.wait_for(4)
        detail = await wait_state(client, sub_id, queued["id"], "delivered")
    assert {g.headers["webhook-id"] for g in got} == {queued["webhook_id"]}
    assert len({g.body for g in got}) == 1
    for g in got:
        verify(created["secret"], g.body, g.headers)
    outcomes = [(a["outcome"], a["status"]) for a in detail["attempt_log"]]
    assert outcomes == [
        ("http_error", 500),
        ("timeout", None),
        ("http_error", 503),
        ("delivered", 200),
    ]
    # the waits grow: each retry came later after its failure than the one before
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert gaps[2] > 0.05


async def test_dead_letter_after_the_retry_window_then_replay(
    client: Client, receiver: Receiver, settings: Settings, app: Litestar
) -> None:
    url = receiver.url
    await allow_loopback(client)
    created = await subscribe(client, url)
    sub_id = created["subscription"]["id"]
    short = Settings(**{**fields(settings), "webhooks_retry_hours": 1.0 / 3600})  # 1 s
    app.state.settings = short  # the API stamps the retry window on new messages
    receiver.script.extend([500] * 200)
    async with running_worker(short):
        queued = await ping(client, sub_id)
        dead = await wait_state(client, sub_id, queued["id"], "dead")
        assert dead["delivery"]["attempts"] >= 3
        assert all(a["outcome"] == "http_error" for a in dead["attempt_log"])
        listed = await client.get(f"/v1/webhooks/{sub_id}/deliveries?state=dead", headers=ADMIN)
        assert [d["id"] for d in listed.json()["items"]] == [queued["id"]]
        receiver.script.clear()
        r = await client.post(
            f"/v1/webhooks/{sub_id}/deliveries/{queued['id']}/replay", headers=ADMIN
        )
        assert r.status_code == 202, r.text
        again = await wait_state(client, sub_id, queued["id"], "delivered")
    assert again["delivery"]["webhook_id"] == queued["webhook_id"]
    assert receiver.received[-1].headers["webhook-id"] == queued["webhook_id"]
    assert again["attempt_log"][-1]["outcome"] == "delivered"


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    client: Client, receiver: Receiver, settings: Settings
) -> None:
    url = receiver.url
    await allow_loopback(client)
    created = await subscribe(client, url)
    sub_id = created["subscription"]["id"]
    r = await client.post(f"/v1/webhooks/{sub_id}/rotate", headers=ADMIN)
    assert r.status_code == 200, r.text
    new_secret = r.json()["secret"]
    assert new_secret != created["secret"]
    async with running_worker(settings):
        await ping(client, sub_id)
        got = (await receiver.wait_for(1))[0]
        verify(new_secret, got.body, got.headers)
        verify(created["secret"], got.body, got.headers)
        r = await client.post(f"/v1/webhooks/{sub_id}/rotate?previous_valid_hours=0", headers=ADMIN)
        newest = r.json()["secret"]
        await ping(client, sub_id)
        got = (await receiver.wait_for(2))[1]
    verify(newest, got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        verify(new_secret, got.body, got.headers)


async def test_ssrf_policy_refuses_what_is_not_allowed(client: Client, app: Litestar) -> None:
    r = await client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["gate.offline"]},
        headers=ADMIN,
    )
    assert r.status_code == 422 and r.json()["code"] == "webhooks.host_not_allowed"
    app.state.settings = Settings(
        **{**fields(app.state.settings), "webhooks_allow_loopback": False}
    )
    for host in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "192.168.0.1"):
        r = await client.post("/v1/admin/webhook-hosts", json={"host": host}, headers=ADMIN)
        assert r.status_code == 422, (host, r.text)
        assert r.json()["code"] == "webhooks.address_not_allowed"
    r = await client.post(
        "/v1/admin/webhook-hosts", json={"host": "hooks.example.org"}, headers=ADMIN
    )
    assert r.status_code == 201
    app.state.settings = Settings(**{**fields(app.state.settings), "webhooks_allow_http": False})
    for url, code in (
        ("http://hooks.example.org/x", "webhooks.bad_url"),
        ("https://user:pw@hooks.example.org/x", "webhooks.bad_url"),
        ("https://other.example.org/x", "webhooks.host_not_allowed"),
        ("ftp://hooks.example.org/x", "webhooks.bad_url"),
    ):
        r = await client.post(
            "/v1/webhooks", json={"url": url, "events": ["gate.offline"]}, headers=ADMIN
        )
        assert r.status_code == 422, (url, r.text)
        assert r.json()["code"] == code, (url, r.text)
    r = await client.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.org/x", "events": ["gate.offline"]},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text


async def test_a_removed_host_is_refused_at_delivery(
    client: Client, receiver: Receiver, settings: Settings
) -> None:
    url = receiver.url
    await allow_loopback(client)
    created = await subscribe(client, url)
    sub_id = created["subscription"]["id"]
    r = await client.delete("/v1/admin/webhook-hosts/127.0.0.1", headers=ADMIN)
    assert r.status_code == 204
    async with running_worker(settings):
        queued = await ping(client, sub_id)
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            r = await client.get(f"/v1/webhooks/{sub_id}/deliveries/{queued['id']}", headers=ADMIN)
            log = r.json()["attempt_log"]
            if log or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
    assert log and log[0]["outcome"] == "refused"
    assert "host_not_allowed" in log[0]["error"]
    assert receiver.received == []


async def test_subscriptions_stay_in_their_owners_scope(
    client: Client, world: World, receiver: Receiver
) -> None:
    url = receiver.url
    await allow_loopback(client)
    mine = await subscribe(
        client,
        url,
        world.auth("operator_a"),
        events=["complaint.answered"],
        venue_ids=[world.ids["venue_a"]],
    )
    sub_id = mine["subscription"]["id"]
    assert mine["subscription"]["owner_kind"] == "operator"
    # another operator does not know it exists; the admin does
    for who, status in (("operator_b", 404), ("planner_x", 404), ("admin", 200)):
        r = await client.get(f"/v1/webhooks/{sub_id}", headers=world.auth(who))
        assert r.status_code == status, (who, r.text)
    r = await client.delete(f"/v1/webhooks/{sub_id}", headers=world.auth("operator_b"))
    assert r.status_code == 404
    listed = await client.get("/v1/webhooks", headers=world.auth("operator_b"))
    assert listed.json()["items"] == []
    # an operator cannot filter on a venue that is not theirs
    r = await client.post(
        "/v1/webhooks",
        json={"url": url, "events": ["gate.offline"], "venue_ids": [world.ids["venue_b"]]},
        headers=world.auth("operator_a"),
    )
    assert r.status_code == 404 and r.json()["code"] == "venues.not_found"
    # planners hear crowd signals of their regions, never events about one traveller
    r = await client.post(
        "/v1/webhooks",
        json={"url": url, "events": ["complaint.answered"]},
        headers=world.auth("planner_x"),
    )
    assert r.status_code == 422 and r.json()["code"] == "webhooks.event_not_allowed"
    r = await client.post(
        "/v1/webhooks",
        json={"url": url, "events": ["venue.level_changed"], "region_codes": ["CN-YN"]},
        headers=world.auth("planner_x"),
    )
    assert r.status_code == 404 and r.json()["code"] == "regions.not_found"
    sub = await subscribe(
        client, url, world.auth("planner_x"), region_codes=["CN-GZ-AS"]
    )  # a region below the planner's
    r = await client.patch(
        f"/v1/webhooks/{sub['subscription']['id']}",
        json={"enabled": False, "region_codes": None},
        headers=world.auth("planner_x"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["region_codes"] is None
    r = await client.patch(
        f"/v1/webhooks/{sub['subscription']['id']}",
        json={"events": ["booking.cancelled_by_venue"]},
        headers=world.auth("planner_x"),
    )
    assert r.status_code == 422


async def test_bad_bodies_are_clear_4xx(client: Client) -> None:
    for body in (
        {},
        {"url": "https://x.org", "events": []},
        {"url": "https://x.org", "events": ["no.such"]},
        {"url": "https://x.org", "events": ["gate.offline"], "extra": 1},
        {"url": 5, "events": ["gate.offline"]},
    ):
        r = await client.post("/v1/webhooks", json=body, headers=ADMIN)
        assert r.status_code == 400, (body, r.text)
    await client.post("/v1/admin/webhook-hosts", json={"host": "x.org"}, headers=ADMIN)
    r = await client.post(
        "/v1/webhooks",
        json={"url": "https://x.org", "events": ["gate.offline"], "secret": "nope"},
        headers=ADMIN,
    )
    assert r.status_code == 422 and r.json()["code"] == "webhooks.bad_secret"
    r = await client.get("/v1/webhooks?cursor=zzz", headers=ADMIN)
    assert r.status_code == 400


async def test_metrics_count_attempts_by_outcome_and_the_queue(
    client: Client, receiver: Receiver, settings: Settings, conn: asyncpg.Connection
) -> None:
    await allow_loopback(client)
    created = await subscribe(client, receiver.url)
    sub_id = created["subscription"]["id"]
    receiver.script.extend([500])
    async with running_worker(settings):
        queued = await ping(client, sub_id)
        await wait_state(client, sub_id, queued["id"], "delivered")
        waiting = await ping(client, sub_id)  # queued while the worker is gone
    await conn.execute(
        "UPDATE webhook_deliveries SET created_at = now() - interval '90 seconds' WHERE id = $1",
        uuid.UUID(waiting["id"]),
    )
    # the gauges are process-wide: another test's app may still be refreshing them from
    # its own database for a moment, so read until this database's figures show
    for _ in range(20):
        await refresh_queue_gauges(conn)
        text = (await client.get("/metrics", headers=ADMIN)).text
        if 'webhook_deliveries{state="pending"} 1.0' in text:
            break
        await asyncio.sleep(0.1)
    assert 'webhook_attempts_total{outcome="http_error"}' in text
    assert 'webhook_attempts_total{outcome="delivered"}' in text
    assert 'webhook_deliveries{state="delivered"} 1.0' in text
    assert 'webhook_deliveries{state="pending"} 1.0' in text
    age = next(ln for ln in text.splitlines() if ln.startswith("webhook_queue_oldest_seconds "))
    assert 89 < float(age.split()[1]) < 200


async def test_v1a_ed25519_signature_verifies_with_the_published_key(
    client: Client, receiver: Receiver, settings: Settings
) -> None:
    r = await client.get("/v1/webhooks/keys")
    assert r.status_code == 200
    (key,) = r.json()["keys"]
    assert key["alg"] == "Ed25519" and key["public_key"].startswith("whpk_")
    verify_key = VerifyKey(base64.b64decode(key["public_key"].removeprefix("whpk_")))
    await allow_loopback(client)
    created = await subscribe(client, receiver.url)
    async with running_worker(settings):
        await ping(client, created["subscription"]["id"])
        got = (await receiver.wait_for(1))[0]
    signatures = dict(s.split(",", 1) for s in got.headers["webhook-signature"].split(" "))
    assert set(signatures) == {"v1", "v1a"}
    signed = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode() + got.body
    verify_key.verify(signed, base64.b64decode(signatures["v1a"]))
    with pytest.raises(BadSignatureError):
        verify_key.verify(signed + b" ", base64.b64decode(signatures["v1a"]))
    verify(created["secret"], got.body, got.headers)  # v1 still verifies beside it


async def test_old_delivered_and_dead_messages_are_pruned(
    client: Client, receiver: Receiver, settings: Settings, conn: asyncpg.Connection
) -> None:
    await allow_loopback(client)
    created = await subscribe(client, receiver.url)
    sub_id = created["subscription"]["id"]
    old, recent = await ping(client, sub_id), await ping(client, sub_id)
    async with running_worker(settings):
        await wait_state(client, sub_id, old["id"], "delivered")
        await wait_state(client, sub_id, recent["id"], "delivered")
    pending = await ping(client, sub_id)  # not sent: no worker now
    await conn.execute(
        "UPDATE webhook_deliveries SET created_at = now() - interval '31 days' "
        "WHERE id = ANY($1::uuid[])",
        [uuid.UUID(old["id"]), uuid.UUID(pending["id"])],
    )
    assert settings.database_url
    pool = await create_pool(settings.database_url, settings)
    try:  # the prune step alone, no loop: the old pending message must stay
        await DeliveryWorker(pool, settings, SecretSealer(settings)).prune(every=0)
    finally:
        await pool.close()
    left = {str(r[0]) for r in await conn.fetch("SELECT id FROM webhook_deliveries")}
    assert old["id"] not in left and recent["id"] in left and pending["id"] in left
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM webhook_attempts WHERE delivery_id = $1", uuid.UUID(old["id"])
        )
        == 0
    )


async def test_a_receiver_asking_for_time_with_retry_after_gets_it(
    client: Client, receiver: Receiver, settings: Settings
) -> None:
    await allow_loopback(client)
    created = await subscribe(client, receiver.url)
    receiver.script.extend(["429+1", "503+1", 200])  # backoff alone would wait <= 0.2 s
    slow = Settings(**{**fields(settings), "webhooks_backoff_max_seconds": 5.0})
    async with running_worker(slow):
        queued = await ping(client, created["subscription"]["id"])
        got = await receiver.wait_for(3)
        await wait_state(client, created["subscription"]["id"], queued["id"], "delivered")
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert all(gap >= 1.0 for gap in gaps), gaps


async def test_lists_page_with_cursors_and_a_patch_is_checked_as_a_whole(
    client: Client, receiver: Receiver
) -> None:
    await allow_loopback(client)
    ids = [(await subscribe(client, receiver.url))["subscription"]["id"] for _ in range(3)]
    first = (await client.get("/v1/webhooks?limit=2", headers=ADMIN)).json()
    second = (
        await client.get(f"/v1/webhooks?limit=2&cursor={first['next_cursor']}", headers=ADMIN)
    ).json()
    assert [s["id"] for s in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
    for _ in range(3):
        await ping(client, ids[0])
    page = (await client.get(f"/v1/webhooks/{ids[0]}/deliveries?limit=2", headers=ADMIN)).json()
    rest = (
        await client.get(
            f"/v1/webhooks/{ids[0]}/deliveries?limit=2&cursor={page['next_cursor']}",
            headers=ADMIN,
        )
    ).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1
    assert all(d["state"] == "pending" for d in page["items"] + rest["items"])
    r = await client.patch(
        f"/v1/webhooks/{ids[0]}", json={"url": "https://elsewhere.example/x"}, headers=ADMIN
    )
    assert r.status_code == 422 and r.json()["code"] == "webhooks.host_not_allowed"
    r = await client.patch(f"/v1/webhooks/{ids[0]}", json={"url": None}, headers=ADMIN)
    assert r.status_code == 400
    r = await client.patch(
        f"/v1/webhooks/{ids[0]}", json={"events": ["gate.offline"]}, headers=ADMIN
    )
    assert r.status_code == 200 and r.json()["events"] == ["gate.offline"]
    assert r.json()["url"] == receiver.url  # what was not given stays
