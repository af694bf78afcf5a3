"""Problems speak the language the request asks for (Accept-Language), English by default."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import ADMIN, World

Client = AsyncTestClient[Litestar]
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


async def test_a_problem_in_chinese_when_asked(world: World) -> None:
    venue = uuid.uuid4()
    r = await world.client.get(f"/v1/venues/{venue}", headers=ZH)
    assert r.status_code == 404
    body = r.json()
    assert body["code"] == "venues.not_found"
    assert body["title"] == "景点不存在"
    assert body["detail"] == "没有这个景点。"
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_english_by_default_and_when_asked(world: World) -> None:
    venue = uuid.uuid4()
    for headers in ({}, {"Accept-Language": "en-GB,en;q=0.9"}, {"Accept-Language": "fr"}):
        body = (await world.client.get(f"/v1/venues/{venue}", headers=headers)).json()
        assert body["title"] == "Venue not found", headers
        assert body["detail"] == "No such venue.", headers


async def test_a_wrong_token_is_rejected_in_chinese(client: Client) -> None:
    r = await client.get(
        "/v1/planner/arrivals?region=CN-GZ&from=2026-05-01&to=2026-05-02",
        headers={"Authorization": "Bearer oc_planner_nope", **ZH},
    )
    assert r.status_code == 401
    assert r.json()["code"] == "auth.invalid_token"
    assert r.json()["title"] == "令牌被拒绝"


async def test_a_validation_error_keeps_its_field_in_chinese(client: Client) -> None:
    r = await client.post(
        "/v1/admin/regions", json={"code": "CN-GZ", "name": 5}, headers={**ADMIN, **ZH}
    )
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["title"] == "请求无效"
    assert body["detail"].startswith("请求格式错误\uff1a")  # full-width colon
    assert "name" in body["detail"]  # the raised text, with the field, is quoted


async def test_an_unknown_route_is_a_chinese_404(client: Client) -> None:
    r = await client.get("/v1/nowhere", headers=ZH)
    assert r.status_code == 404
    assert r.json()["title"] == "未找到"


async def test_sql_outcome_codes_are_translated_too(world: World) -> None:
    t = await world.traveller("a")
    r = await world.client.post(
        "/v1/bookings",
        json={"slot_id": str(uuid.uuid4()), "party_size": 1},
        headers={**world.auth("traveller_a"), **ZH},
    )
    assert t["access_token"]
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "slots.not_found"
    assert r.json()["detail"] == "没有这个时段。"


async def test_dashboard_messages_follow_lang_then_browser_then_region(
    world: World,
) -> None:
    c = world.client

    async def locale(params: dict[str, str], headers: dict[str, str]) -> str:
        r = await c.get("/v1/dashboard/messages", params=params, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert r.headers["content-language"] == body["locale"]
        assert body["locales"] == ["zh-CN", "en"]
        assert body["messages"]["card.arrivals"] in {"到访", "Arrivals"}
        assert body["region_names"]["CN-44"] in {"广东", "Guangdong"}
        return str(body["locale"])

    fr = {"Accept-Language": "fr-FR,fr;q=0.9"}
    assert await locale({"region": "CN-GZ"}, fr) == "zh-CN"  # the region default
    assert await locale({"region": "CN-GZ"}, {"Accept-Language": "en-US"}) == "en"
    assert await locale({"region": "CN-GZ", "lang": "zh-CN"}, {"Accept-Language": "en"}) == "zh-CN"
    assert await locale({}, {}) == "zh-CN"
    r = await c.patch("/v1/admin/regions/CN-GZ", json={"default_locale": "en"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert await locale({"region": "CN-GZ"}, fr) == "en"
    assert await locale({"region": "CN-GZ-AS"}, fr) == "zh-CN"  # its own setting


async def test_region_settings_are_checked(world: World) -> None:
    c = world.client
    r = await c.patch("/v1/admin/regions/CN-GZ", json={"default_locale": "fr"}, headers=ADMIN)
    assert r.status_code == 400, r.text
    r = await c.patch("/v1/admin/regions/CN-XX", json={"default_locale": "en"}, headers=ADMIN)
    assert r.status_code == 404
    assert r.json()["code"] == "regions.not_found"
    r = await c.post(
        "/v1/admin/regions",
        json={"code": "CN-T1", "name": "t", "default_locale": "en"},
        headers=ADMIN,
    )
    assert r.status_code == 201 and r.json()["default_locale"] == "en"
