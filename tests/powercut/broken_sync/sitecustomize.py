"""Test-only: a deliberately broken journal, `PRAGMA synchronous=OFF` after it opens.

Put this directory on PYTHONPATH of the daemon process; the journal module is not edited.
"""

from kioskd.journal import store

_original_init = store.Journal.__init__


def _broken_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    _original_init(self, *args, **kwargs)
    self._conn.execute("PRAGMA synchronous=OFF")


store.Journal.__init__ = _broken_init  # type: ignore[method-assign]
