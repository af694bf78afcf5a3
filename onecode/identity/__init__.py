"""Travellers: registration, profile, erasure and their TQ1 code."""
