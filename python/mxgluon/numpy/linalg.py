"""``mx.np.linalg`` (filled in by its own change)."""
