"""Timed-entry bookings: atomic place taking, idempotent retries, real-name limits."""
