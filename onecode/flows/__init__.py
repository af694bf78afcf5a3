"""Visitor flows for planners: rollups kept from a watermark, k-anonymous indicators, CSV."""
