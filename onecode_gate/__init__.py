"""The reference gate agent, as its own package: it needs only ``onecode.codes`` (TQ1
verification) and ``onecode.gates.rules`` (the offline decision), not the server."""
