"""Process and readiness probes."""
