"""Complaints: a traveller files one against a venue, its operator answers, and the
traveller rates the answer."""
