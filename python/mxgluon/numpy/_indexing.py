"""Advanced indexing (integer arrays, boolean masks) for ndarray.__getitem__/__setitem__ (filled in by its own change)."""
