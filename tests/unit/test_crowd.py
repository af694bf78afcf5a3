"""Crowd levels: one rule for the catalog, the planner flows and the place codes."""

from __future__ import annotations

import pytest

from onecode.crowd import THRESHOLDS, crowd_level, level_of


@pytest.mark.parametrize(
    ("inside", "capacity", "level"),
    [
        (0, 100, "green"),
        (79, 100, "green"),
        (80, 100, "yellow"),
        (89, 100, "yellow"),
        (90, 100, "orange"),
        (94, 100, "orange"),
        (95, 100, "red"),
        (250, 100, "red"),
        (5, 0, "green"),  # no capacity configured: no level to raise
        (-3, 100, "green"),  # a counter below zero (exits before entries were synced)
        (3, 4, "green"),
        (4, 5, "yellow"),
        (19, 20, "red"),
    ],
)
def test_levels_start_at_80_90_95_percent(inside: int, capacity: int, level: str) -> None:
    assert crowd_level(inside, capacity) == level
    if capacity:
        assert level_of(inside / capacity) == level


def test_the_thresholds_are_lbt_068() -> None:
    assert THRESHOLDS == {"yellow": 80, "orange": 90, "red": 95}
