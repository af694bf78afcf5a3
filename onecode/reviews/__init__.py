"""Verified-visit reviews: one per visit, with exact venue rating aggregates."""
