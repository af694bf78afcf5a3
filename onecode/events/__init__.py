"""Events: an outbox written with the change that causes it, and a traveller's own feed."""
