"""Wire shapes of the planner indicators (one frozen Struct per shape).

Privacy contract: no traveller id, name, credential or booking id appears in any of
these shapes. Every count computed from fewer than ``k`` distinct travellers is
``None`` with ``suppressed=True`` on its row; where a total is published, at least one
more cell of the same breakdown is suppressed (the smallest remaining) so the hidden
cell cannot be recovered by subtraction. Venue ids and region codes are public.

Local times are wall-clock times in each venue's own time zone: ``bucket`` strings are
``YYYY-MM-DD`` (day grain) or ``YYYY-MM-DDTHH:00`` (hour grain), without an offset.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

import msgspec

from onecode.crowd import Level

Grain = Literal["hour", "day"]
ScopeKind = Literal["region", "venue"]


class Scope(msgspec.Struct, frozen=True, kw_only=True):
    """What an answer covers: a region (and every region below it) or one venue."""

    kind: ScopeKind
    region: str | None = None
    venue_id: uuid.UUID | None = None
    name: str
    venues: int  # number of venues inside the scope


class Noise(msgspec.Struct, frozen=True, kw_only=True):
    """How the numbers of an answer were released (docs/flows.md, "Privacy").

    Every count is a sum of cells released once per local day with discrete Laplace
    noise (OpenDP), then rounded up to 0 and hidden below k. ``ci95`` gives, per field,
    the half-width of the 95% interval of the noise on one value of that field (a row
    of the answer, or its total): the true count is within ±N of the shown one 95% of
    the time (before rounding up to 0 and leaving out the travellers past the bounds).
    """

    mechanism: str = "discrete_laplace"
    epsilon: float | None  # per traveller-day, of the released days in the range
    # the last released day of the range: later days are not released yet (null cells)
    released_through: date | None
    ci95: dict[str, int]
    # a total is released from the raw noisy cells (then rounded up to 0), not added up
    # from the shown rows: it includes the suppressed rows and is unbiased, so it is
    # not their sum (for od: the total is the sum of the links shown, and this is true)
    totals_add_up: bool = False


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """The common head of every indicator: scope, inclusive date range, k used."""

    scope: Scope
    from_: date = msgspec.field(name="from")
    to: date
    k: int
    # rows consumed up to: the rollup's freshness (UTC, RFC 3339), None before the first advance
    as_of: str | None = None
    noise: Noise | None = None  # None for bookings and feedback (not noised: k only)


# --- arrivals ------------------------------------------------------------------


class ArrivalsRow(msgspec.Struct, frozen=True, kw_only=True):
    bucket: str  # "2026-05-01" or "2026-05-01T09:00" (venue local time)
    visits: int | None  # accepted entries and self check-ins
    visitors: int | None  # distinct travellers
    suppressed: bool = False


class Arrivals(msgspec.Struct, frozen=True, kw_only=True):
    window: Window
    grain: Grain
    rows: list[ArrivalsRow]
    total_visits: int | None
    total_visitors: int | None  # distinct over the whole range (not the sum of rows)
    total_suppressed: bool = False


# --- occupancy -----------------------------------------------------------------


class OccupancyHour(msgspec.Struct, frozen=True, kw_only=True):
    hour: int  # 0..23, venue local time
    entries: int | None  # people in (party sizes) during the hour
    exits: int | None  # people out during the hour
    inside: int | None  # people inside at the end of the hour
    load: float | None  # inside / capacity_instant
    level: Level | None  # green, yellow >= 80%, orange >= 90%, red >= 95%
    suppressed: bool = False


class Occupancy(msgspec.Struct, frozen=True, kw_only=True):
    venue_id: uuid.UUID
    name: str
    date: date
    timezone: str
    capacity_instant: int
    capacity_daily: int
    thresholds: dict[str, int]  # {"yellow": 80, "orange": 90, "red": 95} (percent)
    hours: list[OccupancyHour]
    peak_inside: int | None
    peak_hour: int | None
    daily_entries: int | None
    daily_load: float | None  # daily_entries / capacity_daily
    suppressed: bool = False  # the day's totals
    k: int = 10
    as_of: str | None = None
    noise: Noise | None = None


# --- origin-destination --------------------------------------------------------


class OdNode(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID  # venue id
    name: str
    region_code: str
    lat: float | None = None
    lon: float | None = None


class OdLink(msgspec.Struct, frozen=True, kw_only=True):
    from_: uuid.UUID = msgspec.field(name="from")
    to: uuid.UUID
    trips: int | None
    suppressed: bool = False


class Od(msgspec.Struct, frozen=True, kw_only=True):
    window: Window
    nodes: list[OdNode]
    links: list[OdLink]
    total_trips: int | None
    total_suppressed: bool = False


# --- dwell ---------------------------------------------------------------------


class DwellBin(msgspec.Struct, frozen=True, kw_only=True):
    min_minutes: int  # inclusive
    max_minutes: int | None  # exclusive; None for the open last bin
    label: str  # "0-30", "30-60", ..., "480+"
    visits: int | None  # in/out pairs whose dwell falls in the bin
    suppressed: bool = False


class Dwell(msgspec.Struct, frozen=True, kw_only=True):
    window: Window
    bins: list[DwellBin]
    total_visits: int | None  # paired visits; entries without an exit are not counted
    total_suppressed: bool = False


# --- origins -------------------------------------------------------------------


class OriginRow(msgspec.Struct, frozen=True, kw_only=True):
    # a region code as travellers gave it, "unknown", or "other": every home region
    # below k folded into one unnamed row (a rare origin is never named)
    home_region: str
    visitors: int | None  # distinct travellers
    share: float | None  # visitors / total_visitors
    suppressed: bool = False
    #: the region's name in the answer's language (广东 / Guangdong for CN-44), if known
    home_region_name: str | None = None


class Origins(msgspec.Struct, frozen=True, kw_only=True):
    window: Window
    rows: list[OriginRow]
    total_visitors: int | None
    total_suppressed: bool = False


# --- heatmap -------------------------------------------------------------------


class HeatCell(msgspec.Struct, frozen=True, kw_only=True):
    weekday: int  # ISO: 1 = Monday .. 7 = Sunday (venue local day)
    hour: int  # 0..23 venue local time
    visits: int | None
    suppressed: bool = False


class Heatmap(msgspec.Struct, frozen=True, kw_only=True):
    window: Window
    cells: list[HeatCell]  # all 168 cells, Monday 00h first


# --- bookings ------------------------------------------------------------------


class BookingVenueRow(msgspec.Struct, frozen=True, kw_only=True):
    venue_id: uuid.UUID
    name: str
    slots: int
    capacity: int  # places offered in those slots
    places_booked: int | None  # places held by booked + used + no-show bookings
    fill_rate: float | None  # places_booked / capacity
    bookings: int | None
    used: int | None
    no_show: int | None
    cancelled: int | None
    no_show_rate: float | None  # no_show / (used + no_show)
    suppressed: bool = False


class LeadTimeBin(msgspec.Struct, frozen=True, kw_only=True):
    min_days: int  # inclusive, days between booking and slot start
    max_days: int | None  # exclusive; None for the open last bin
    label: str
    bookings: int | None
    suppressed: bool = False


class Bookings(msgspec.Struct, frozen=True, kw_only=True):
    window: Window
    venues: list[BookingVenueRow]
    lead_time: list[LeadTimeBin]
    total_bookings: int | None
    no_show_rate: float | None
    fill_rate: float | None
    total_suppressed: bool = False


# --- feedback ------------------------------------------------------------------


class RatingBin(msgspec.Struct, frozen=True, kw_only=True):
    rating: int  # 1..5
    reviews: int | None
    suppressed: bool = False


class FeedbackVenueRow(msgspec.Struct, frozen=True, kw_only=True):
    venue_id: uuid.UUID
    name: str
    reviews: int | None
    rating_mean: float | None
    complaints: int | None
    answered: int | None
    median_hours_to_answer: float | None
    mean_hours_to_answer: float | None
    answer_rating_mean: float | None
    suppressed: bool = False


class Feedback(msgspec.Struct, frozen=True, kw_only=True):
    window: Window
    ratings: list[RatingBin]
    venues: list[FeedbackVenueRow]
    total_reviews: int | None
    rating_mean: float | None
    complaints: int | None
    answered: int | None
    median_hours_to_answer: float | None
    mean_hours_to_answer: float | None
    answer_rating_mean: float | None
    total_suppressed: bool = False


class ReleasedDay(msgspec.Struct, frozen=True, kw_only=True):
    local_day: date
    released_at: str  # UTC, RFC 3339
    epsilon: float  # per traveller-day, all indicators of the day
    cells: int  # noisy cells stored


class Releases(msgspec.Struct, frozen=True, kw_only=True):
    """The admin's view of the privacy releases (the design needs no budget ledger:
    each day is released once, at the epsilon shown; docs/flows.md)."""

    params: dict[str, object]  # bounds, and per indicator sensitivity, scale, epsilon
    epsilon_per_traveller_day: float  # of the current settings
    k: int
    days: list[ReleasedDay]  # released days of the range, oldest first


class RollupResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one advance did (for the CLI and the admin)."""

    consumed: int


# --- venues of a scope -----------------------------------------------------------


class PlannerVenue(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    region_code: str
    gated: bool


class PlannerVenues(msgspec.Struct, frozen=True, kw_only=True):
    """The venues a planner may see in a scope, busiest first: by the released (noisy)
    visitors of the range where at least k are published, then by name (the order never
    ranks a venue below k). ``busiest`` is the first gated one, where occupancy opens."""

    window: Window
    items: list[PlannerVenue]
    busiest: uuid.UUID | None = None
    next_cursor: str | None = None  # the list shape; a scope's venues come in one page
