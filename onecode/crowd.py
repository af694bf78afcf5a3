"""Crowd levels, said once: the share of a venue's capacity inside it, named as China's
LB/T 068-2017 names its peak response levels (yellow from 80%, orange from 90%, red from
95% of the maximum capacity). Framework-free; the catalog, the planner flows and the
place codes all speak it."""

from __future__ import annotations

from typing import Literal

Level = Literal["green", "yellow", "orange", "red"]

#: percent of capacity at which each level starts (green is below yellow)
THRESHOLDS: dict[str, int] = {"yellow": 80, "orange": 90, "red": 95}


def level_of(load: float) -> Level:
    """The level of a load (people inside / capacity, 1.0 = full)."""
    if load >= THRESHOLDS["red"] / 100:
        return "red"
    if load >= THRESHOLDS["orange"] / 100:
        return "orange"
    if load >= THRESHOLDS["yellow"] / 100:
        return "yellow"
    return "green"


def crowd_level(inside: int, capacity: int) -> Level:
    """The level of ``inside`` people in a venue for ``capacity`` (none: green)."""
    return level_of(inside / capacity if capacity > 0 else 0.0)
