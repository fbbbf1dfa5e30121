"""Watch the input directory so a plugged (or replugged) device is picked up at once.

Rules:
- The watch is armed *before* the first enumeration, so a device plugged in between the two is
  not missed (the change wakes the next scan).
- inotify through ctypes on the base directory and its ``by-id`` subdirectory: node created,
  deleted, moved, or its attributes changed (udev fixes permissions after creating the node, so
  an open that failed with EACCES is retried on IN_ATTRIB). The events' contents are not parsed:
  any change means "enumerate again", which is cheap and cannot get out of step.
- Where inotify is missing (not Linux), the watcher falls back to waking every `poll_s` seconds;
  callers also rescan on a short retry while a wanted device is "not yet" openable, so a device
  that re-appears is read again within the 2 s the kiosk promises either way.
- The fd is read with `loop.add_reader` (no threads); `close()` removes the reader, then closes.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os

log = logging.getLogger(__name__)

IN_ATTRIB = 0x00000004
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
WATCH_MASK = IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF


def _libc() -> ctypes.CDLL | None:
    import ctypes.util  # only where inotify is used (subprocess, shutil...: not at every start)

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.inotify_init1  # noqa: B018 (probe that the symbol exists)
        return libc
    except (OSError, AttributeError):
        return None


class DirectoryWatcher:
    """Sets `changed` whenever something in the watched directories changes."""

    def __init__(self, base_dir: str | os.PathLike[str], *, poll_s: float = 0.5) -> None:
        self.base_dir = os.fspath(base_dir)
        self.poll_s = poll_s
        self.changed = asyncio.Event()
        self._fd: int | None = None
        self._libc = _libc()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watched: set[str] = set()

    @property
    def uses_inotify(self) -> bool:
        return self._fd is not None

    def start(self) -> None:
        """Arm the watch (call before enumerating)."""
        self._loop = asyncio.get_running_loop()
        if self._libc is not None:
            fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                self._loop.add_reader(fd, self._drain)
        self.rearm()

    def rearm(self) -> None:
        """(Re)add watches; the base or by-id directory may have appeared since."""
        if self._fd is None or self._libc is None:
            return
        for path in (self.base_dir, os.path.join(self.base_dir, "by-id")):
            if path in self._watched or not os.path.isdir(path):
                continue
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), WATCH_MASK)
            if wd >= 0:
                self._watched.add(path)
            else:
                log.debug("inotify_add_watch failed for %s: errno %d", path, ctypes.get_errno())

    def _drain(self) -> None:
        try:
            while os.read(self._fd, 65536):  # type: ignore[arg-type]
                pass
        except BlockingIOError:
            pass
        except OSError:
            pass
        # A watched directory may have been removed (IN_DELETE_SELF): re-add on the next scan.
        self._watched = {p for p in self._watched if os.path.isdir(p)}
        self.changed.set()

    async def wait(self, timeout: float) -> bool:
        """Wait for a change (True) or `timeout` seconds (False); clears the flag."""
        if self._fd is None:
            timeout = min(timeout, self.poll_s)
        try:
            await asyncio.wait_for(self.changed.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.changed.clear()

    def close(self) -> None:
        if self._fd is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
