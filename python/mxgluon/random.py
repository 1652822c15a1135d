"""``mx.random``: seeding and sampling (filled in by its own change)."""
