"""Input nodes: how a configured device string finds its node, and the seam that opens nodes.

Rules:
- A device is identified by what survives a replug: a ``/dev/input/by-id`` path (or any stable
  symlink such as ``/dev/kiosk/scanner``), ``vendor:product[:serial]`` in hex, or
  ``name:PATTERN`` (shell pattern on the device name, case-insensitive) -- never by ``eventN``,
  which the kernel hands out in plug order. Symlinks are resolved at every match, so a replugged
  device under a new ``eventN`` is found again through the same path.
- `Selector.parse` is the one parser of device strings: ``kioskd check-config`` validates with
  it and the reader selects with it, so a config that passes the check selects at run time.
  Paths are absolute; an ``eventN`` node path is refused (numbers change between boots and
  replugs); ``""`` means the role is not used and ``auto`` lets the reader pick the device by
  what it can send, its name and vendor id (`kioskd.input.roles`).
- ``replay:PATH`` is not a node: it reads evtest text from a file or FIFO (`kioskd.input.replay`).
- The base directory (normally ``/dev/input``) is a parameter, so tests run on a fake tree.
- Opening goes through a `NodeOpener`: `EvdevOpener` opens real nodes with python-evdev;
  `EvtestOpener` opens FIFOs in a fake tree whose sidecar ``<node>.info`` holds an evtest header
  (name, vendor, product). No /dev/uinput is needed to test unplug and replug.
- `OSError` while probing or opening means "not yet" (udev has not fixed permissions, the node
  is half gone), never "fatal": the caller tries again on the next directory change or retry.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kioskd.input.evtest import InputEvent, parse_header, parse_lines

_USB_ID = re.compile(
    r"^(?P<vendor>[0-9a-fA-F]{4}):(?P<product>[0-9a-fA-F]{4})(?::(?P<serial>.+))?$"
)
_EVENT_NODE = re.compile(r"^event\d+$")
DEVICE_FORMS = (
    "a stable absolute path (/dev/input/by-id/..., /dev/kiosk/scanner), vendor:product[:serial] "
    'in hex, name:PATTERN, replay:/ABSOLUTE/PATH, "auto" or "" (not used)'
)


@dataclass(frozen=True)
class DeviceInfo:
    """What a node says about itself, plus the stable symlinks that point at it."""

    path: str
    name: str
    vendor: int
    product: int
    serial: str = ""
    by_id: tuple[str, ...] = ()
    keys: frozenset[int] = frozenset()  # EV_KEY codes it can send (empty: not known)

    @property
    def vendor_product(self) -> str:
        return f"{self.vendor:04x}:{self.product:04x}"


@dataclass(frozen=True)
class Selector:
    """A parsed ``device`` setting: kind is 'path', 'usb', 'name', 'replay', 'auto' (value: the
    role) or 'none'."""

    kind: str
    value: str
    vendor: int = 0
    product: int = 0
    serial: str = ""

    @classmethod
    def parse(cls, text: str) -> Selector:
        """Parse a device string; ValueError names what is wrong and the accepted forms."""
        text = text.strip()
        if text == "":
            return cls("none", "")
        if text == "auto":
            return cls("auto", "")  # the reader fills in its role (kioskd.input.roles.choose)
        if text.startswith("replay:"):
            path = text[7:]
            if not path.startswith("/"):
                raise ValueError(f"device {text!r}: replay: needs an absolute path (replay:/PATH)")
            return cls("replay", path)
        if text.startswith("name:"):
            if not text[5:]:
                raise ValueError(f"device {text!r}: name: needs a pattern (name:PATTERN)")
            return cls("name", text[5:])
        if m := _USB_ID.match(text):
            return cls("usb", text, int(m["vendor"], 16), int(m["product"], 16), m["serial"] or "")
        if text.startswith("/"):
            if _EVENT_NODE.match(os.path.basename(text)):
                raise ValueError(
                    f"device {text!r}: eventN numbers change between boots and replugs; "
                    "use a /dev/input/by-id/ path, vendor:product or name:PATTERN"
                )
            return cls("path", text)
        raise ValueError(f"device {text!r}: expected {DEVICE_FORMS}")

    def matches(self, info: DeviceInfo) -> bool:
        if self.kind == "usb":
            return (
                info.vendor == self.vendor
                and info.product == self.product
                and (not self.serial or info.serial == self.serial)
            )
        if self.kind == "name":
            return fnmatch.fnmatchcase(info.name.lower(), self.value.lower())
        if self.kind == "path":
            if self.value in info.by_id:
                return True
            try:
                return os.path.realpath(self.value) == os.path.realpath(info.path)
            except OSError:
                return False
        return False


class InputNode(Protocol):
    """An open input node (real or fake)."""

    path: str

    def fileno(self) -> int: ...
    def read_events(self) -> list[InputEvent]:
        """Events ready now; BlockingIOError when none; other OSError when the node is gone."""
        ...

    def active_keys(self) -> list[int]: ...
    def grab(self) -> None: ...
    def ungrab(self) -> None: ...
    def close(self) -> None: ...


class NodeOpener(Protocol):
    def probe(self, path: str) -> DeviceInfo | None: ...
    def open(self, path: str) -> InputNode: ...


def event_nodes(base_dir: str | os.PathLike[str]) -> list[str]:
    """The ``eventN`` nodes in `base_dir`, in numeric order."""
    try:
        names = [n for n in os.listdir(base_dir) if _EVENT_NODE.match(n)]
    except OSError:
        return []
    names.sort(key=lambda n: int(n[5:]))
    return [os.path.join(base_dir, n) for n in names]


def stable_links(base_dir: str | os.PathLike[str]) -> dict[str, tuple[str, ...]]:
    """realpath of node -> the ``by-id`` symlinks that point at it."""
    links: dict[str, list[str]] = {}
    by_id = Path(base_dir) / "by-id"
    try:
        entries = sorted(os.listdir(by_id))
    except OSError:
        return {}
    for entry in entries:
        link = by_id / entry
        try:
            target = os.path.realpath(link)
        except OSError:
            continue
        links.setdefault(target, []).append(str(link))
    return {k: tuple(v) for k, v in links.items()}


def enumerate_devices(
    base_dir: str | os.PathLike[str], opener: NodeOpener, not_yet: list[str] | None = None
) -> list[DeviceInfo]:
    """Every node in `base_dir` that could be probed now; the others go to `not_yet`."""
    links = stable_links(base_dir)
    found = []
    for path in event_nodes(base_dir):
        try:
            info = opener.probe(path)
        except OSError:
            if not_yet is not None:
                not_yet.append(path)
            continue
        if info is not None:
            by_id = links.get(os.path.realpath(path), ())
            found.append(
                DeviceInfo(
                    info.path, info.name, info.vendor, info.product, info.serial, by_id, info.keys
                )
            )
    return found


def list_devices(
    base_dir: str | os.PathLike[str] = "/dev/input",
    roles: dict[str, str] | None = None,
    opener: NodeOpener | None = None,
) -> list[dict[str, object]]:
    """For `kioskd doctor`: each input device with its ids, by-id paths and matching roles.

    `roles` maps a role name to its configured device string (e.g. {'scanner': '05f9:2206'}).
    """
    opener = opener or EvdevOpener()
    selectors = {}
    for role, text in (roles or {}).items():
        try:
            selectors[role] = Selector.parse(text)
        except ValueError:
            continue
    rows: list[dict[str, object]] = []
    for info in enumerate_devices(base_dir, opener):
        rows.append(
            {
                "path": info.path,
                "name": info.name,
                "vendor_product": info.vendor_product,
                "serial": info.serial,
                "by_id": list(info.by_id),
                "roles": [role for role, sel in selectors.items() if sel.matches(info)],
            }
        )
    return rows


# ---------------------------------------------------------------------- real nodes (python-evdev)
class EvdevNode:
    """A real node through python-evdev; reads only what is ready (the caller polls the fd)."""

    def __init__(self, path: str) -> None:
        import evdev

        self.path = path
        self._device = evdev.InputDevice(path)

    def fileno(self) -> int:
        return self._device.fd

    def read_events(self) -> list[InputEvent]:
        return [
            InputEvent(ev.sec + ev.usec / 1_000_000, ev.type, ev.code, ev.value)
            for ev in self._device.read()
        ]

    def active_keys(self) -> list[int]:
        return list(self._device.active_keys())

    def grab(self) -> None:
        self._device.grab()

    def ungrab(self) -> None:
        self._device.ungrab()

    def close(self) -> None:
        self._device.close()


class EvdevOpener:
    def probe(self, path: str) -> DeviceInfo | None:
        import evdev

        device = evdev.InputDevice(path)
        try:
            keys = frozenset(device.capabilities().get(evdev.ecodes.EV_KEY, ()))
            return DeviceInfo(
                path,
                device.name,
                device.info.vendor,
                device.info.product,
                device.uniq or "",
                keys=keys,
            )
        finally:
            device.close()

    def open(self, path: str) -> InputNode:
        return EvdevNode(path)


# ---------------------------------------------------------------------- fake nodes (tests, demo)
@dataclass
class EvtestNode:
    """A fake node: a FIFO carrying evtest text. The writer closing it means 'unplugged'."""

    path: str
    held_at_open: list[int] = field(default_factory=list)
    grab_error: int | None = None  # errno to raise from grab(), e.g. errno.EBUSY
    log: list[str] = field(default_factory=list)  # 'grab', 'ungrab', 'close' in order

    def __post_init__(self) -> None:
        self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self._partial = b""
        self.grabbed = False
        self.closed = False

    def fileno(self) -> int:
        return self._fd

    def read_events(self) -> list[InputEvent]:
        chunk = os.read(self._fd, 65536)
        if not chunk:
            raise OSError(errno.ENODEV, "No such device", self.path)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        return list(parse_lines(line.decode("utf-8", "replace") for line in lines))

    def active_keys(self) -> list[int]:
        return list(self.held_at_open)

    def grab(self) -> None:
        if self.grab_error is not None:
            raise OSError(self.grab_error, os.strerror(self.grab_error), self.path)
        self.grabbed = True
        self.log.append("grab")

    def ungrab(self) -> None:
        self.grabbed = False
        self.log.append("ungrab")

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
            self.closed = True
            self.log.append("close")


class EvtestOpener:
    """Opens FIFOs in a fake ``/dev/input`` tree; ``<node>.info`` holds the evtest header.

    `held_at_open` and `grab_error` (keyed by node file name) script the next opens; every
    opened node is kept in `nodes` so tests can look at grabs and teardown order.
    """

    def __init__(self) -> None:
        self.held_at_open: dict[str, list[int]] = {}
        self.grab_error: dict[str, int] = {}
        self.nodes: list[EvtestNode] = []

    def probe(self, path: str) -> DeviceInfo | None:
        text = Path(path + ".info").read_text(encoding="utf-8")
        header = parse_header(text.splitlines())
        return DeviceInfo(
            path, header.name or "", header.vendor or 0, header.product or 0, keys=header.keys
        )

    def open(self, path: str) -> InputNode:
        if not os.path.exists(path + ".info"):
            raise FileNotFoundError(errno.ENOENT, "not yet", path)
        name = os.path.basename(path)
        node = EvtestNode(path, list(self.held_at_open.get(name, [])), self.grab_error.get(name))
        self.nodes.append(node)
        return node


def watch_events(
    paths: Iterable[str], opener: NodeOpener, seconds: float
) -> dict[str, list[InputEvent]]:
    """Read what `paths` send for `seconds` without grabbing them (`kioskd doctor` tells roles
    by rhythm). A node that cannot be opened or goes away is left out."""
    import select
    import time

    nodes: dict[str, InputNode] = {}
    for path in paths:
        try:
            nodes[path] = opener.open(path)
        except OSError:
            continue
    events: dict[str, list[InputEvent]] = {path: [] for path in nodes}
    deadline = time.monotonic() + seconds
    try:
        while nodes and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([n.fileno() for n in nodes.values()], [], [], left)
            for path, node in list(nodes.items()):
                if node.fileno() not in ready:
                    continue
                try:
                    events[path] += node.read_events()
                except BlockingIOError:
                    continue
                except OSError:
                    node.close()
                    del nodes[path]
    finally:
        for node in nodes.values():
            node.close()
    return events


def find_matches(
    selector: Selector,
    base_dir: str | os.PathLike[str],
    opener: NodeOpener,
    not_yet: list[str] | None = None,
) -> list[DeviceInfo]:
    """Nodes that `selector` names, now (nodes that could not be probed go to `not_yet`)."""
    infos = enumerate_devices(base_dir, opener, not_yet)
    if selector.kind == "auto":
        from kioskd.input.roles import choose

        return choose(selector.value, infos)
    return [info for info in infos if selector.matches(info)]
