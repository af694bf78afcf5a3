"""HTTP routes of the planner indicators: parse, authorize, call the service, shape
the answer as JSON or, with ``Accept: text/csv`` or ``format=csv``, as CSV."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from onecode import i18n
from onecode.auth import Caller, Kind, allow
from onecode.catalog.service import region_locale
from onecode.db import Conn
from onecode.flows import privacy, service
from onecode.flows.models import (
    Arrivals,
    ArrivalsRow,
    Bookings,
    BookingVenueRow,
    Dwell,
    DwellBin,
    Feedback,
    FeedbackVenueRow,
    Grain,
    HeatCell,
    Heatmap,
    Occupancy,
    OccupancyHour,
    Od,
    OdLink,
    OriginRow,
    Origins,
    PlannerVenues,
    ReleasedDay,
    Releases,
)
from onecode.flows.rollup import rollup_lifespan
from onecode.sql import Q

CSV_MEDIA = "text/csv"  # Litestar adds "; charset=utf-8"

From = Annotated[date | None, QueryParameter(name="from", required=False)]
To = Annotated[date | None, QueryParameter(name="to", required=False)]
RegionQ = Annotated[
    str | None,
    QueryParameter(name="region", pattern=r"^[A-Z0-9][A-Z0-9-]{0,31}$", required=False),
]
VenueQ = Annotated[uuid.UUID | None, QueryParameter(name="venue", required=False)]
FormatQ = Annotated[Literal["json", "csv"] | None, QueryParameter(name="format", required=False)]
GrainQ = Annotated[Grain, QueryParameter(name="grain")]


def _wants_csv(request: Request[Any, Any, Any], fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "").lower()


def _answer(
    request: Request[Any, Any, Any],
    fmt: str | None,
    body: msgspec.Struct,
    row_type: type[msgspec.Struct],
    rows: Sequence[msgspec.Struct],
    name: str,
) -> Response[Any]:
    if _wants_csv(request, fmt):
        window = getattr(body, "window", None)
        noise = getattr(window if window is not None else body, "noise", None)
        return Response(
            content=service.to_csv(row_type, rows, noise),
            media_type=CSV_MEDIA,
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(content=body)


def _k(state: State) -> int:
    return int(state.settings.k_anonymity)


async def _answer_locale(conn: Conn, request: Request[Any, Any, Any], window: Window) -> str:
    """Accept-Language, else the scope region's default language (zh-CN)."""
    region = window.scope.scope.region
    default = (await region_locale(conn, region) if region else None) or i18n.ZH
    return i18n.negotiate(request.headers.get("accept-language"), default)


async def _with_region_names(
    conn: Conn, request: Request[Any, Any, Any], window: Window, body: Origins
) -> Origins:
    """Each origin's region code with its name (CN-44 → 广东 / Guangdong)."""
    locale = await _answer_locale(conn, request, window)
    rows = [
        msgspec.structs.replace(r, home_region_name=i18n.region_name(r.home_region, locale))
        for r in body.rows
    ]
    return msgspec.structs.replace(body, rows=rows)


def _privacy(state: State) -> service.Privacy:
    settings = state.settings
    return service.Privacy(
        int(settings.k_anonymity),
        privacy.Params(
            epsilon=float(settings.dp_epsilon), delay_hours=float(settings.dp_release_delay_hours)
        ),
    )


class Window(msgspec.Struct, frozen=True):
    """What every indicator but occupancy is asked for: a scope, a date range and k."""

    scope: service.Resolved
    first: date
    last: date
    k: int
    privacy: service.Privacy


async def provide_window(
    conn: Conn,
    principal: Caller,
    state: State,
    start: From = None,
    end: To = None,
    region: RegionQ = None,
    venue: VenueQ = None,
) -> Window:
    """Dependency: the checked ``from``/``to`` range and the caller's scope (404 outside)."""
    first, last = service.check_range(start, end)
    scope = await service.resolve_scope(conn, principal, region, venue)
    return Window(scope, first, last, _k(state), _privacy(state))


Win = NamedDependency[Window]


class PlannerController(Controller):
    path = "/v1/planner"
    tags = ["planner"]
    guards = [allow(Kind.PLANNER, Kind.ADMIN)]
    dependencies = {"window": Provide(provide_window)}

    @get("/arrivals")
    async def arrivals(
        self,
        conn: Conn,
        window: Win,
        request: Request[Any, Any, Any],
        grain: GrainQ = "day",
        fmt: FormatQ = None,
    ) -> Response[Arrivals]:
        """Visits and unique visitors per hour or day."""
        body = await service.arrivals(
            conn, window.scope, window.first, window.last, grain, window.k, p=window.privacy
        )
        return _answer(request, fmt, body, ArrivalsRow, body.rows, "arrivals")

    @get("/occupancy")
    async def occupancy(
        self,
        conn: Conn,
        principal: Caller,
        request: Request[Any, Any, Any],
        state: State,
        venue: Annotated[uuid.UUID, QueryParameter(name="venue")],
        day: Annotated[date, QueryParameter(name="date")],
        fmt: FormatQ = None,
    ) -> Response[Occupancy]:
        """People inside per hour of a day against capacity, with 80/90/95% levels."""
        body = await service.occupancy(conn, principal, venue, day, _k(state), p=_privacy(state))
        return _answer(request, fmt, body, OccupancyHour, body.hours, "occupancy")

    @get("/od")
    async def od(
        self, conn: Conn, window: Win, request: Request[Any, Any, Any], fmt: FormatQ = None
    ) -> Response[Od]:
        """Origin-destination trips between venues (consecutive entries in one day)."""
        body = await service.od(
            conn, window.scope, window.first, window.last, window.k, p=window.privacy
        )
        return _answer(request, fmt, body, OdLink, body.links, "od")

    @get("/dwell")
    async def dwell(
        self, conn: Conn, window: Win, request: Request[Any, Any, Any], fmt: FormatQ = None
    ) -> Response[Dwell]:
        """Dwell-time histogram from entry/exit pairs."""
        body = await service.dwell(
            conn, window.scope, window.first, window.last, window.k, p=window.privacy
        )
        return _answer(request, fmt, body, DwellBin, body.bins, "dwell")

    @get("/origins")
    async def origins(
        self, conn: Conn, window: Win, request: Request[Any, Any, Any], fmt: FormatQ = None
    ) -> Response[Origins]:
        """Visitors by home region."""
        body = await service.origins(
            conn, window.scope, window.first, window.last, window.k, p=window.privacy
        )
        body = await _with_region_names(conn, request, window, body)
        return _answer(request, fmt, body, OriginRow, body.rows, "origins")

    @get("/heatmap")
    async def heatmap(
        self, conn: Conn, window: Win, request: Request[Any, Any, Any], fmt: FormatQ = None
    ) -> Response[Heatmap]:
        """Visits by hour of day and weekday."""
        body = await service.heatmap(
            conn, window.scope, window.first, window.last, window.k, p=window.privacy
        )
        return _answer(request, fmt, body, HeatCell, body.cells, "heatmap")

    @get("/bookings")
    async def bookings(
        self, conn: Conn, window: Win, request: Request[Any, Any, Any], fmt: FormatQ = None
    ) -> Response[Bookings]:
        """Booking use: slot fill, no-show rate, lead time."""
        body = await service.bookings(conn, window.scope, window.first, window.last, window.k)
        return _answer(request, fmt, body, BookingVenueRow, body.venues, "bookings")

    @get("/venues")
    async def venues(self, conn: Conn, window: Win) -> PlannerVenues:
        """The venues of the scope the caller may see, busiest first (k-safe order)."""
        return await service.venues(
            conn, window.scope, window.first, window.last, window.k, p=window.privacy
        )

    @get("/feedback")
    async def feedback(
        self, conn: Conn, window: Win, request: Request[Any, Any, Any], fmt: FormatQ = None
    ) -> Response[Feedback]:
        """Ratings and complaints, with time to answer."""
        body = await service.feedback(conn, window.scope, window.first, window.last, window.k)
        return _answer(request, fmt, body, FeedbackVenueRow, body.venues, "feedback")


class ReleasesController(Controller):
    path = "/v1/admin/releases"
    tags = ["admin", "planner"]
    guards = [allow(Kind.ADMIN)]

    @get("/")
    async def releases(
        self, conn: Conn, state: State, start: From = None, end: To = None
    ) -> Releases:
        """The privacy releases: parameters, and the days released in the range."""
        first, last = service.check_range(start, end)
        p = _privacy(state)
        rows = await conn.fetch(Q()["flows_select_release_ledger"], first, last)
        return Releases(
            params=p.params.describe(),
            epsilon_per_traveller_day=p.params.total_epsilon(),
            k=p.k,
            days=[
                ReleasedDay(
                    local_day=r["local_day"],
                    released_at=r["released_at"].isoformat(),
                    epsilon=float(r["epsilon"]),
                    cells=int(r["cells"]),
                )
                for r in rows
            ],
        )


ROUTES = [PlannerController, ReleasesController]
LIFESPANS = [rollup_lifespan]
