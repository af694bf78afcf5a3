"""Offline gates: the sync pack, idempotent batch uploads, conflicts, and the gate agent."""
