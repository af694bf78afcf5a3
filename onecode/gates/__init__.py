"""Gate validation online: one decision per scan, exactly once, under races."""
