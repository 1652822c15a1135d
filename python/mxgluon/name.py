"""``mx.name``: MXNet 1.x's automatic naming. ``NameManager`` counts names per hint (``dense0``,
``dense1``, ...); ``with mx.name.NameManager():`` starts a fresh count for the body."""
import threading

__all__ = ["NameManager"]


class NameManager:
    """Gives ``hint0``, ``hint1``, ... for each hint, unless a name is given."""

    _current = threading.local()

    def __init__(self):
        self._counter = {}
        self._old = None

    def get(self, name, hint):
        """``name`` when given, else the next ``hint<n>``."""
        if name:
            return name
        n = self._counter.get(hint, 0)
        self._counter[hint] = n + 1
        return f"{hint}{n}"

    @classmethod
    def current(cls):
        """The active manager of this thread (one per thread until a ``with`` replaces it)."""
        cur = getattr(cls._current, "value", None)
        if cur is None:
            cur = cls._current.value = NameManager()
        return cur

    def __enter__(self):
        self._old = NameManager.current()
        NameManager._current.value = self
        return self

    def __exit__(self, *exc):
        NameManager._current.value = self._old
        return False
