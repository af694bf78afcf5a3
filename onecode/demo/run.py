"""``onecode demo``: play the plan through the HTTP API (in-process over ASGI, or a
running server with ``--url``) and print what the API answered."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import msgspec

from onecode import i18n
from onecode.codes import screenshot_suffix
from onecode.codes.b64url import b64url_decode
from onecode.commands import Command
from onecode.demo.data import (
    ATTRACTION_BY_KEY,
    ATTRACTIONS,
    COMPLAINTS,
    PREFECTURES,
    REGION,
    REVIEW_TEXTS,
    TZ,
    Attraction,
)
from onecode.demo.plan import Plan, PlannedBooking, Visit, local_time, make_plan
from onecode.settings import Settings


class Summary(msgspec.Struct, kw_only=True):
    """What the simulation did, as the API answered it."""

    days: list[str] = msgspec.field(default_factory=list)
    holiday: str | None = None
    lang: str = "en"  # the language of the names the demo wrote
    venues: int = 0
    travellers: int = 0
    scans_uploaded: int = 0
    scan_results: dict[str, int] = msgspec.field(default_factory=dict)
    entries_recorded: int = 0  # accepted 'in' scans the server recorded
    online_entries: int = 0  # of which decided online (booked slots open now)
    entries_by_day: dict[str, int] = msgspec.field(default_factory=dict)
    checkins: int = 0
    checkins_by_day: dict[str, int] = msgspec.field(default_factory=dict)
    bookings: int = 0
    bookings_refused: int = 0
    reviews: int = 0
    complaints: int = 0
    complaints_answered: int = 0
    skipped_past_checkins: int = 0
    planner_token: str = ""
    admin_token: str | None = None  # minted by this run for a fresh database (shown once)
    region: str = REGION[0]


class DemoError(RuntimeError):
    """The API answered something the demo cannot go on from."""


class Progress:
    """A plain progress bar on stderr (no dependency)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr is not None

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.enabled or (done < total and not sys.stderr.isatty()):
            return
        width = 30
        frac = done / total if total else 1.0
        bar = "#" * int(frac * width)
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{label:<24} [{bar:<{width}}] {done}/{total}{end}")
        sys.stderr.flush()


def _check(r: httpx.Response, *ok: int) -> Any:
    if r.status_code not in ok:
        raise DemoError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}")
    return r.json() if r.content else None


async def _gather(
    items: list[Any],
    fn: Callable[[Any], Awaitable[None]],
    progress: Progress,
    label: str,
    concurrency: int = 16,
) -> None:
    sem = asyncio.Semaphore(concurrency)
    done = 0

    async def one(item: Any) -> None:
        nonlocal done
        async with sem:
            await fn(item)
        done += 1
        if done % 25 == 0 or done == len(items):
            progress(label, done, len(items))

    await asyncio.gather(*(one(i) for i in items))
    if not items:
        progress(label, 0, 0)


_GATES = ("East gate", "West gate", "North gate")


class Words:
    """The demo's names and texts in one language: English from onecode/demo/data.py, any
    other from the message catalogs (``demo.region``, ``demo.venue``, ``demo.text``)."""

    def __init__(self, lang: str = i18n.EN) -> None:
        self.lang = lang

    def _get(self, context: str, key: str, english: str, **values: object) -> str:
        if self.lang == i18n.EN:
            return english.format(**values) if values else english
        return i18n.text(self.lang, context, key, **values) or english

    def region(self, code: str, english: str) -> str:
        return self._get("demo.region", code, english)

    def venue(self, a: Attraction) -> str:
        return self._get("demo.venue", a.key, a.name)

    def text(self, key: str, english: str, **values: object) -> str:
        return self._get("demo.text", key, english, **values)


async def run_plan(
    client: httpx.AsyncClient,
    admin_token: str,
    plan: Plan,
    progress: Progress,
    words: Words | None = None,
) -> Summary:
    """Play the plan through the HTTP API, naming things in ``words``' language."""
    w = words or Words()
    admin = {"Authorization": f"Bearer {admin_token}"}
    s = Summary(days=[d.isoformat() for d in plan.days], lang=w.lang)
    s.holiday = plan.holiday.isoformat() if plan.holiday else None

    # catalog: regions (existing ones are fine: the demo can run twice)
    for code, name, parent in [(*REGION, None)] + [(c, n, REGION[0]) for c, n in PREFECTURES]:
        body: dict[str, Any] = {"code": code, "name": w.region(code, name)}
        if parent:
            body["parent_code"] = parent
        _check(await client.post("/v1/admin/regions", json=body, headers=admin), 201, 409)
    existing = {
        v["name"]: v
        for v in _check(await client.get("/v1/venues", params={"region": REGION[0]}), 200)["items"]
    }
    venues: dict[str, dict[str, Any]] = {}
    gate_tokens: dict[tuple[str, int], str] = {}
    operator_venues: list[str] = []
    for a in ATTRACTIONS:
        if w.venue(a) in existing:
            raise DemoError(
                f"{w.venue(a)} already exists in {REGION[0]}: the demo fills an empty region "
                "(use a fresh data folder or database)"
            )
        v = _check(
            await client.post(
                "/v1/admin/venues",
                json={
                    "region_code": a.region,
                    "name": w.venue(a),
                    "kind": a.kind,
                    "gated": a.gated,
                    "requires_booking": a.requires_booking,
                    "entry_rule": a.entry_rule,
                    "capacity_instant": plan.capacity_instant[a.key],
                    "capacity_daily": plan.capacity_daily[a.key],
                    "lat": a.lat,
                    "lon": a.lon,
                },
                headers=admin,
            ),
            201,
        )
        venues[a.key] = v
        operator_venues.append(v["id"])
        for g in range(a.gates if a.gated else 0):
            gate = _check(
                await client.post(
                    f"/v1/admin/venues/{v['id']}/gates",
                    json={"name": w.text(f"gate.{g % 3}", _GATES[g % 3])},
                    headers=admin,
                ),
                201,
            )
            gate_tokens[(a.key, g)] = gate["token"]
    s.venues = len(venues)
    operator = _check(
        await client.post(
            "/v1/admin/operators",
            json={
                "name": w.text("operator", "Guizhou scenic areas operator"),
                "venue_ids": operator_venues,
            },
            headers=admin,
        ),
        201,
    )
    op = {"Authorization": f"Bearer {operator['token']}"}
    planner = _check(
        await client.post(
            "/v1/admin/planners",
            json={
                "name": w.text("planner", "Guizhou tourism planning"),
                "region_codes": [REGION[0]],
            },
            headers=admin,
        ),
        201,
    )
    s.planner_token = planner["token"]

    # timed slots: hourly 08:00-16:00 for today and the next two days at booked venues
    today = plan.now.astimezone(TZ).date()
    slot_ids: dict[tuple[str, datetime], str] = {}
    for key in ("hgs", "fjs"):
        cap = max(5, plan.capacity_instant[key] // 3)
        slots = [
            {
                "starts_at": local_time(today + timedelta(days=dd), h).isoformat(),
                "ends_at": local_time(today + timedelta(days=dd), h + 1).isoformat(),
                "capacity": cap,
            }
            for dd in range(3)
            for h in range(8, 16)
        ]
        made = _check(
            await client.post(
                f"/v1/venues/{venues[key]['id']}/slots", json={"slots": slots}, headers=op
            ),
            201,
        )
        for sl in made["slots"]:
            slot_ids[(key, datetime.fromisoformat(sl["starts_at"]).astimezone(UTC))] = sl["id"]

    # travellers: register and fetch the code their phone shows
    tokens: list[str] = [""] * len(plan.homes)
    codes: list[str] = [""] * len(plan.homes)
    secrets: list[bytes] = [b""] * len(plan.homes)  # the app's suffix secret
    active = sorted({v.traveller for v in plan.visits} | {b.traveller for b in plan.bookings})

    async def register(t: int) -> None:
        r = _check(
            await client.post(
                "/v1/travellers",
                json={
                    "display_name": w.text("traveller", "Traveller {n}", n=t),
                    "home_region": plan.homes[t],
                },
            ),
            201,
        )
        tokens[t] = r["access_token"]
        secrets[t] = b64url_decode(r["code_secret"])
        me = {"Authorization": f"Bearer {tokens[t]}"}
        codes[t] = _check(await client.get("/v1/me/code", headers=me), 200)["code"]

    await _gather(active, register, progress, "registering travellers")
    s.travellers = len(active)

    # gate scans of gated venues, uploaded per gate in time order, as offline gates do
    per_gate: dict[tuple[str, int], list[tuple[datetime, dict[str, Any], Visit]]] = {}
    for v in plan.visits:
        if not ATTRACTION_BY_KEY[v.venue].gated:
            continue
        items = per_gate.setdefault((v.venue, v.gate), [])
        items.append((v.enter, _scan(v.entry_scan, codes[v.traveller], "in", v.enter), v))
        if v.leave is not None:
            items.append((v.leave, _scan(v.exit_scan, codes[v.traveller], "out", v.leave), v))
    results: Counter[str] = Counter()
    recorded_entries: set[uuid.UUID] = set()
    entry_ids = {v.entry_scan: v for v in plan.visits}
    batches = [
        (gate, chunk)
        for gate, items in per_gate.items()
        for chunk in _chunks(sorted(items, key=lambda e: e[0]), 500)
    ]

    async def upload(
        batch: tuple[tuple[str, int], list[tuple[datetime, dict[str, Any], Visit]]],
    ) -> None:
        gate, chunk = batch
        headers = {"Authorization": f"Bearer {gate_tokens[gate]}"}
        out = _check(
            await client.post(
                "/v1/gate/scans/batch", json={"scans": [c[1] for c in chunk]}, headers=headers
            ),
            200,
        )
        for res in out["results"]:
            results[res["status"]] += 1
            v = entry_ids.get(uuid.UUID(res["scan_id"]))
            if v is not None and res["status"] in ("recorded", "conflict"):
                s.entries_recorded += 1
                day = v.day.isoformat()
                s.entries_by_day[day] = s.entries_by_day.get(day, 0) + 1
                recorded_entries.add(v.entry_scan)
        s.scans_uploaded += len(chunk)

    await _gather(batches, upload, progress, "uploading gate scans", concurrency=4)
    s.scan_results = dict(results)

    # self check-ins at ungated venues: the server stamps them with its own clock, so only
    # the visits planned within the last hour are played (a stamp true to the hour)
    async def check_in(v: Visit) -> None:
        me = {"Authorization": f"Bearer {tokens[v.traveller]}"}
        place = venues[v.venue]["place_code"]
        r = await client.post(f"/v1/places/{place}/checkin", headers=me)
        _check(r, 200, 201)
        if r.status_code == 201:
            s.checkins += 1
            day = v.day.isoformat()
            s.checkins_by_day[day] = s.checkins_by_day.get(day, 0) + 1
            recorded_entries.add(v.entry_scan)

    ungated = [v for v in plan.visits if not ATTRACTION_BY_KEY[v.venue].gated]
    recent = [v for v in ungated if plan.now - timedelta(hours=1) < v.enter <= plan.now]
    s.skipped_past_checkins = len(ungated) - len(recent)
    await _gather(recent, check_in, progress, "checking in (last hour)")

    # bookings for today's remaining and upcoming slots
    async def book(b: PlannedBooking) -> None:
        me = {"Authorization": f"Bearer {tokens[b.traveller]}"}
        slot = slot_ids.get((b.venue, b.slot_start))
        if slot is None:
            return
        r = await client.post(
            "/v1/bookings",
            json={"slot_id": slot, "party_size": 1},
            headers={**me, "Idempotency-Key": f"demo-{b.traveller}-{b.venue}-{b.day}"},
        )
        if r.status_code == 201:
            s.bookings += 1
            # a slot opening within the venue's early grace (30 min): the traveller is at
            # the gate now, and an online gate lets them in by the server's clock
            if b.slot_start - timedelta(minutes=30) <= plan.now:
                scan = _check(
                    await client.post(
                        "/v1/gate/scans",
                        json={
                            # the phone's live code: the static text alone is
                            # refused at a gated venue (static_code)
                            "code": codes[b.traveller]
                            + screenshot_suffix(
                                codes[b.traveller], secrets[b.traveller], time.time()
                            ),
                            "direction": "in",
                            "scan_id": str(_booking_scan_id(b)),
                            "scanned_at": datetime.now(UTC).isoformat(),
                        },
                        headers={"Authorization": f"Bearer {gate_tokens[(b.venue, 0)]}"},
                    ),
                    200,
                )
                if scan["decision"] == "accept":
                    s.entries_recorded += 1
                    s.online_entries += 1
                    day = b.day.isoformat()
                    s.entries_by_day[day] = s.entries_by_day.get(day, 0) + 1
        elif 400 <= r.status_code < 500:
            s.bookings_refused += 1  # full slot, daily limit: a real answer, counted
        else:
            _check(r, 201)

    await _gather(plan.bookings, book, progress, "booking slots")

    # reviews after a recorded visit, complaints now and then, answered by the operator
    async def feedback(v: Visit) -> None:
        me = {"Authorization": f"Bearer {tokens[v.traveller]}"}
        vid = venues[v.venue]["id"]
        if v.review is not None:
            texts = [
                w.text(f"review.{v.review}.{i}", english)
                for i, english in enumerate(REVIEW_TEXTS[v.review])
            ]
            r = await client.post(
                f"/v1/venues/{vid}/reviews",
                json={"rating": v.review, "text": texts[v.traveller % len(texts)]},
                headers=me,
            )
            _check(r, 201, 409)
            s.reviews += r.status_code == 201
        if v.complaint is not None:
            category, text = COMPLAINTS[v.complaint]
            text = w.text(f"complaint.{category}", text)
            c = _check(
                await client.post(
                    "/v1/complaints",
                    json={"venue_id": vid, "category": category, "text": text},
                    headers=me,
                ),
                201,
            )
            s.complaints += 1
            if v.traveller % 3 != 0:  # two in three get an answer
                _check(
                    await client.post(
                        f"/v1/complaints/{c['id']}/answer",
                        json={
                            "text": w.text(
                                "answer", "Thank you, we have passed this on to the team."
                            )
                        },
                        headers=op,
                    ),
                    200,
                )
                s.complaints_answered += 1

    said = [
        v
        for v in plan.visits
        if (v.review is not None or v.complaint is not None) and v.entry_scan in recorded_entries
    ]
    await _gather(said, feedback, progress, "reviews and complaints")
    return s


def _scan(scan_id: uuid.UUID, code: str, direction: str, at: datetime) -> dict[str, Any]:
    return {
        "scan_id": str(scan_id),
        "code": code,
        "direction": direction,
        "scanned_at": at.isoformat(),
        "decision": "accept",
        "reason": "ok",
    }


def _booking_scan_id(b: PlannedBooking) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"onecode-demo:{b.traveller}:{b.venue}:{b.slot_start}")


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def advance_rollups(dsn: str) -> str:
    """Bring the planner rollups up to date (in-process runs only)."""
    import asyncpg

    from onecode.flows.rollup import advance

    conn = await asyncpg.connect(dsn)
    try:
        result = await advance(conn)
    finally:
        await conn.close()
    return f"rollups advanced: {result}"


async def announce_alerts(dsn: str, settings: Settings) -> str:
    """Run the alert detectors once, so that the dashboard shows the crowd levels the
    demo's visitors made (the webhook worker does this every alerts_interval_seconds)."""
    import asyncpg

    from onecode.webhooks.detectors import detect

    conn = await asyncpg.connect(dsn)
    try:
        await detect(conn, settings)
        n = await conn.fetchval("SELECT count(*) FROM venue_alert_levels WHERE level <> 'green'")
    finally:
        await conn.close()
    return f"alerts: {n} venue level(s) above green announced"


async def run_in_process(
    settings: Settings, plan: Plan, progress: Progress, words: Words | None = None
) -> Summary:
    """Serve the app over ASGI inside this process and play the plan against it."""
    import asyncpg

    from onecode.app import create_app
    from onecode.auth import ensure_admin_token

    admin_token = settings.admin_token
    minted = None
    if not admin_token:
        # a fresh database: mint the first admin token, as `onecode serve` would, and
        # show it once in the summary (serve will not print one once an admin exists)
        assert settings.database_url
        conn = await asyncpg.connect(settings.database_url)
        try:
            minted = await ensure_admin_token(conn, settings.admin_token)
        finally:
            await conn.close()
        if minted is None:
            raise DemoError("this database already has an admin: set ONECODE_ADMIN_TOKEN to it")
        admin_token = minted
    app = create_app(msgspec.structs.replace(settings, admin_token=admin_token, rate_limit=False))
    failure: Exception | None = None
    async with app.lifespan():
        transport = httpx.ASGITransport(app=cast(Any, app))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://demo.local", timeout=60
        ) as client:
            try:
                summary = await run_plan(client, admin_token, plan, progress, words)
                summary.admin_token = minted
                return summary
            except (DemoError, httpx.HTTPError) as exc:
                failure = exc  # raised below, outside the lifespan's task group
    assert failure is not None
    raise failure


async def run_remote(
    url: str, admin_token: str, plan: Plan, progress: Progress, words: Words | None = None
) -> Summary:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await run_plan(client, admin_token, plan, progress, words)


def print_summary(s: Summary, dashboard: str, rollups: str, out: Any = None) -> None:
    out = out or sys.stdout
    res = ", ".join(f"{k} {n}" for k, n in sorted(s.scan_results.items())) or "none"
    lines = [
        "",
        f"onecode demo: {Words(s.lang).region(*REGION)} ({s.region}), {len(s.days)} day(s) "
        f"{s.days[0]} .. "
        f"{s.days[-1]}, holiday surge on {s.holiday}",
        f"  venues            {s.venues}",
        f"  travellers        {s.travellers}",
        f"  gate scans        {s.scans_uploaded} uploaded ({res})",
        f"  entries recorded  {s.entries_recorded} ({s.online_entries} online, booked)",
        f"  check-ins         {s.checkins} (the last hour's; {s.skipped_past_checkins} earlier "
        "ungated visits not played: the server stamps check-ins with its own clock)",
        f"  bookings          {s.bookings} ({s.bookings_refused} refused)",
        f"  reviews           {s.reviews}",
        f"  complaints        {s.complaints} ({s.complaints_answered} answered)",
        f"  {rollups}",
        "",
        f"planner token: {s.planner_token}",
        *(
            [f"admin token:   {s.admin_token}  (the database's first; shown once, stored hashed)"]
            if s.admin_token
            else []
        ),
        f"dashboard:     {dashboard}  (paste the token; region {s.region}, "
        f"from {s.days[0]} to {s.days[-1]})",
    ]
    print("\n".join(lines), file=out, flush=True)


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=int, default=7, help="days to simulate, ending today (1-60)")
    p.add_argument("--travellers", type=int, default=1500, help="travellers (1-100000)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (deterministic plan)")
    p.add_argument("--url", help="a running onecode server (needs ONECODE_ADMIN_TOKEN)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--lang",
        choices=list(i18n.LOCALES),
        default=i18n.ZH,
        help="language of the names and texts the demo writes (regions, venues, reviews)",
    )


def demo(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.days <= 60 or not 1 <= args.travellers <= 100_000:
        print("onecode demo: --days must be 1-60 and --travellers 1-100000", file=sys.stderr)
        return 2
    plan = make_plan(
        days=args.days, travellers=args.travellers, seed=args.seed, now=datetime.now(UTC)
    )
    progress = Progress(not args.quiet)
    words = Words(str(getattr(args, "lang", i18n.EN)))
    # one line per request is noise in the progress output: the client's (httpx) and the
    # in-process server's access log (onecode.access) both stay quiet below WARNING
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("onecode.access").setLevel(logging.WARNING)
    try:
        if args.url:
            if not settings.admin_token:
                print("onecode demo --url needs ONECODE_ADMIN_TOKEN", file=sys.stderr)
                return 2
            summary = asyncio.run(run_remote(args.url, settings.admin_token, plan, progress, words))
            rollups = "rollups: the server advances them every ONECODE_ROLLUP_INTERVAL_SECONDS"
            dashboard = args.url.rstrip("/") + "/planner/"
        else:
            from onecode.devdb import database
            from onecode.migrate import migrate

            with database(settings) as dsn:
                asyncio.run(migrate(dsn))
                settings = msgspec.structs.replace(settings, database_url=dsn)
                summary = asyncio.run(run_in_process(settings, plan, progress, words))
                rollups = asyncio.run(advance_rollups(dsn))
                rollups += "; " + asyncio.run(announce_alerts(dsn, settings))
            dashboard = f"http://{settings.host}:{settings.port}/planner/"
    except (DemoError, httpx.HTTPError) as exc:
        print(f"\nonecode demo: {exc}", file=sys.stderr)
        return 1
    print_summary(summary, dashboard, rollups)
    return 0


COMMANDS = [
    Command("demo", "fill a Guizhou region and simulate days of travellers", demo, _demo_args)
]
