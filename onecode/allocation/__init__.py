"""Fair allocation of scarce places: walk-in sales, the waiting list, lotteries, and the
durable worker that makes offers and draws (issue #18, docs/allocation.md)."""
