"""``mx.np.random`` (filled in by its own change)."""
