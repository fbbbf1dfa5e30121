"""A FUSE filesystem that forgets every write not yet synced, as losing power would.

Run it as `python -m kioskd.proving.campaigns.powercut.fusefs BACKING MOUNTPOINT` (foreground;
`PowerCutMount` in `kioskd.proving.campaigns.powercut.mount` starts and cuts it). The mounted
tree lives in this process's memory; BACKING holds only what was made durable:

- file data becomes durable when the file is `fsync`ed or `fdatasync`ed (the whole file as it
  is then); nothing else persists data: no write, close or rename does;
- names become durable when their directory is `fsync`ed: creations, renames, unlinks, mkdir
  and rmdir are only in memory until then (the strict POSIX reading; ext4 is kinder to a newly
  created file that is fsynced, this filesystem is not, on purpose);
- a new file whose name was synced but whose data never was comes back empty.

The power cut is killing this process (SIGKILL) together with the program under test, then
`fusermount -uz` and mounting again: memory, the kernel's page cache and everything not synced
are gone, and the new process loads BACKING. Nothing here is torn: an fsync is all-or-nothing.

Layout of BACKING: `state.json` (durable directory entries, modes, next inode number) and
`data/<inode>` (durable file contents), each replaced atomically. POSIX and flock locks are left
to the kernel (no `lock` operation: the kernel keeps them locally), which is right on one host.
Open files that are unlinked are renamed by libfuse to `.fuse_hidden*`; such names are kept out
of the directory (and out of durability) until released.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = 1
STATE = "state.json"
DATA = "data"
HIDDEN_PREFIX = ".fuse_hidden"


def _oserror(code: int) -> Exception:
    from fuse import FuseOSError

    return FuseOSError(code)


@dataclass
class Node:
    """An inode in memory: a regular file (`data`) or a directory (`entries`)."""

    ino: int
    mode: int
    data: bytearray = field(default_factory=bytearray)
    entries: dict[str, int] | None = None
    mtime: float = field(default_factory=time.time)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


class DurableStore:
    """BACKING: what survives a power cut. Every update is an atomic replace of one file."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        (self.root / DATA).mkdir(parents=True, exist_ok=True)
        self.dirs: dict[int, dict[str, int]] = {ROOT: {}}
        self.modes: dict[int, int] = {ROOT: stat.S_IFDIR | 0o755}
        self.next_ino = ROOT + 1
        self.syncs = 0
        state = self.root / STATE
        if state.exists():
            raw = json.loads(state.read_text())
            self.dirs = {int(k): {n: int(i) for n, i in v.items()} for k, v in raw["dirs"].items()}
            self.modes = {int(k): int(v) for k, v in raw["modes"].items()}
            self.next_ino = int(raw["next_ino"])
        stored = [int(p.name) for p in (self.root / DATA).iterdir() if p.name.isdigit()]
        self.next_ino = max([self.next_ino, *(i + 1 for i in stored)])

    def _replace(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def save_data(self, ino: int, data: bytes) -> None:
        self.syncs += 1
        self._replace(self.root / DATA / str(ino), data)

    def load_data(self, ino: int) -> bytearray:
        path = self.root / DATA / str(ino)
        return bytearray(path.read_bytes()) if path.exists() else bytearray()

    def save_dir(
        self, ino: int, entries: dict[str, int], modes: dict[int, int], next_ino: int
    ) -> None:
        self.syncs += 1
        self.dirs[ino] = dict(entries)
        for child, mode in modes.items():
            self.modes[child] = mode
            if stat.S_ISDIR(mode):
                self.dirs.setdefault(child, {})
        self.next_ino = max(self.next_ino, next_ino)
        raw = {
            "dirs": {str(k): v for k, v in self.dirs.items()},
            "modes": {str(k): v for k, v in self.modes.items()},
            "next_ino": self.next_ino,
        }
        self._replace(self.root / STATE, json.dumps(raw, sort_keys=True).encode())

    def load_tree(self) -> dict[int, Node]:
        """The durable tree reachable from the root; data of unreachable inodes is removed."""
        nodes: dict[int, Node] = {}
        todo = [ROOT]
        while todo:
            ino = todo.pop()
            if ino in nodes:
                continue
            mode = self.modes.get(ino, stat.S_IFREG | 0o644)
            if stat.S_ISDIR(mode):
                entries = dict(self.dirs.get(ino, {}))
                nodes[ino] = Node(ino, mode, entries=entries)
                todo.extend(entries.values())
            else:
                nodes[ino] = Node(ino, mode, data=self.load_data(ino))
        for p in (self.root / DATA).iterdir():
            if p.name.isdigit() and int(p.name) not in nodes:
                p.unlink()
        return nodes


class PowerCutFS:
    """The fusepy operations. Path-based, single-threaded (mounted with `nothreads`)."""

    use_ns = True

    def __init__(self, backing: str | os.PathLike[str]) -> None:
        self.store = DurableStore(backing)
        self.nodes = self.store.load_tree()
        self.next_ino = self.store.next_ino
        self.handles: dict[int, int] = {}
        self.next_fh = 1
        self.hidden: dict[str, int] = {}  # ".fuse_hidden*" path -> inode (unlinked, still open)

    def __call__(self, op: str, *args: Any) -> Any:
        handler = getattr(self, op, None)
        if handler is None:
            raise _oserror(errno.ENOSYS)
        return handler(*args)

    # ----------------------------------------------------------------- tree helpers

    def _split(self, path: str) -> tuple[Node, str]:
        parent, _, name = path.rstrip("/").rpartition("/")
        node = self._lookup(parent or "/")
        if not node.is_dir:
            raise _oserror(errno.ENOTDIR)
        return node, name

    def _lookup(self, path: str) -> Node:
        if path in self.hidden:
            return self.nodes[self.hidden[path]]
        node = self.nodes[ROOT]
        for part in path.strip("/").split("/"):
            if not part:
                continue
            if node.entries is None:
                raise _oserror(errno.ENOTDIR)
            ino = node.entries.get(part)
            if ino is None:
                raise _oserror(errno.ENOENT)
            node = self.nodes[ino]
        return node

    def _node(self, path: str | None, fh: int | None) -> Node:
        if fh:
            ino = self.handles.get(fh)
            if ino is not None and ino in self.nodes:
                return self.nodes[ino]
        if path is None:
            raise _oserror(errno.EBADF)
        return self._lookup(path)

    def _new(self, mode: int) -> Node:
        ino = self.next_ino
        self.next_ino += 1
        node = Node(ino, mode, entries={} if stat.S_ISDIR(mode) else None)
        self.nodes[ino] = node
        return node

    def _open_fh(self, node: Node) -> int:
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = node.ino
        return fh

    def _links(self, ino: int) -> int:
        n = sum(1 for d in self.nodes.values() if d.entries and ino in d.entries.values())
        return n + sum(1 for i in self.hidden.values() if i == ino)

    # ----------------------------------------------------------------- attributes

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        node = self._node(path, fh)
        ns = int(node.mtime * 1e9)
        size = 4096 if node.is_dir else len(node.data)
        return {
            "st_mode": node.mode,
            "st_ino": node.ino,
            "st_nlink": 2 if node.is_dir else max(1, self._links(node.ino)),
            "st_size": size,
            "st_blocks": (size + 511) // 512,
            "st_uid": os.getuid(),
            "st_gid": os.getgid(),
            "st_atime": ns,
            "st_mtime": ns,
            "st_ctime": ns,
        }

    def access(self, path: str, amode: int) -> int:
        self._lookup(path)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        node = self._lookup(path)
        node.mode = (node.mode & ~0o7777) | (mode & 0o7777)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        self._lookup(path)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        node = self._lookup(path)
        node.mtime = times[1] / 1e9 if times else time.time()
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        sv = os.statvfs(self.store.root)
        keys = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree")
        out = {k: getattr(sv, k) for k in keys}
        out["f_namemax"] = 255
        return out

    # ----------------------------------------------------------------- directories

    def readdir(self, path: str, fh: int) -> list[str]:
        node = self._lookup(path)
        if node.entries is None:
            raise _oserror(errno.ENOTDIR)
        return [".", "..", *node.entries]

    def opendir(self, path: str) -> int:
        node = self._lookup(path)
        if not node.is_dir:
            raise _oserror(errno.ENOTDIR)
        return self._open_fh(node)

    def releasedir(self, path: str, fh: int) -> int:
        self.handles.pop(fh, None)
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        node = self._node(path, fh)
        if node.entries is None:
            raise _oserror(errno.ENOTDIR)
        modes = {i: self.nodes[i].mode for i in node.entries.values()}
        self.store.save_dir(node.ino, node.entries, modes, self.next_ino)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        parent, name = self._split(path)
        assert parent.entries is not None
        if name in parent.entries:
            raise _oserror(errno.EEXIST)
        parent.entries[name] = self._new(stat.S_IFDIR | (mode & 0o7777)).ino
        return 0

    def rmdir(self, path: str) -> int:
        parent, name = self._split(path)
        node = self._lookup(path)
        if not node.is_dir:
            raise _oserror(errno.ENOTDIR)
        if node.entries:
            raise _oserror(errno.ENOTEMPTY)
        assert parent.entries is not None
        del parent.entries[name]
        return 0

    # ----------------------------------------------------------------- names

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        parent, name = self._split(path)
        assert parent.entries is not None
        ino = parent.entries.get(name)
        node = self.nodes[ino] if ino is not None else self._new(stat.S_IFREG | (mode & 0o7777))
        parent.entries[name] = node.ino
        return self._open_fh(node)

    def open(self, path: str, flags: int) -> int:
        node = self._lookup(path)
        if flags & os.O_TRUNC:
            node.data.clear()
        return self._open_fh(node)

    def unlink(self, path: str) -> int:
        if path in self.hidden:
            del self.hidden[path]
            return 0
        parent, name = self._split(path)
        assert parent.entries is not None
        if name not in parent.entries:
            raise _oserror(errno.ENOENT)
        del parent.entries[name]
        return 0

    def rename(self, old: str, new: str) -> int:
        src_dir, src_name = self._split(old)
        node = self._lookup(old)
        assert src_dir.entries is not None
        if new.rpartition("/")[2].startswith(HIDDEN_PREFIX):
            # libfuse hiding an unlinked open file: for the disk this is an unlink.
            del src_dir.entries[src_name]
            self.hidden[new] = node.ino
            return 0
        dst_dir, dst_name = self._split(new)
        assert dst_dir.entries is not None
        target = dst_dir.entries.get(dst_name)
        if target is not None and self.nodes[target].is_dir:
            if not node.is_dir:
                raise _oserror(errno.EISDIR)
            if self.nodes[target].entries:
                raise _oserror(errno.ENOTEMPTY)
        del src_dir.entries[src_name]
        dst_dir.entries[dst_name] = node.ino
        return 0

    # ----------------------------------------------------------------- data

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        node = self._node(path, fh)
        return bytes(node.data[offset : offset + size])

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        node = self._node(path, fh)
        end = offset + len(data)
        if len(node.data) < offset:
            node.data.extend(b"\0" * (offset - len(node.data)))
        node.data[offset:end] = data
        node.mtime = time.time()
        return len(data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        node = self._node(path, fh)
        if length < len(node.data):
            del node.data[length:]
        else:
            node.data.extend(b"\0" * (length - len(node.data)))
        node.mtime = time.time()
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        node = self._node(path, fh)
        if node.is_dir:
            return self.fsyncdir(path, datasync, fh)
        self.store.save_data(node.ino, bytes(node.data))
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    def release(self, path: str, fh: int) -> int:
        self.handles.pop(fh, None)
        return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m kioskd.proving.campaigns.powercut.fusefs BACKING MOUNT`: mount, foreground."""
    from fuse import FUSE

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m kioskd.proving.campaigns.powercut.fusefs BACKING MOUNTPOINT",
            file=sys.stderr,
        )
        return 2
    backing, mountpoint = args
    FUSE(
        PowerCutFS(backing),
        mountpoint,
        foreground=True,
        nothreads=True,
        fsname="powercut",
        attr_timeout=0,
        entry_timeout=0,
        negative_timeout=0,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
