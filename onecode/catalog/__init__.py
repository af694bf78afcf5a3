"""Catalog: regions, venues, gates, operators, planners and timed-entry slots."""
