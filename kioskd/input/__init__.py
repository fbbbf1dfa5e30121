"""Input devices: barcode scanners and keypads over evdev, decoded into tokens.

Layers, outermost first:
- `reader.InputSource`: one configured device (by-id path, vendor:product[:serial],
  name:PATTERN or replay:PATH) as an async stream of tokens; hotplug, grab, teardown.
- `devices`: device identity (`Selector`), enumeration, `list_devices()` for ``kioskd doctor``,
  and the node seam (real python-evdev nodes; fake FIFO nodes for tests).
- `hotplug.DirectoryWatcher`: inotify on the input directory.
- `decoder.Decoder`: pure key events -> `ScanToken` / `KeyToken`, per device.
- `xkb.Layout`: XKB layouts through libxkbcommon.
- `evtest`: the text format of the ``evtest`` tool (captures, replay, tests).

Importing this package does not import python-evdev or xkbcommon; they load on first use.
"""

from kioskd.input.decoder import Decoder, DecoderConfig, KeyToken, ScanToken, Token
from kioskd.input.devices import DeviceInfo, Selector, list_devices
from kioskd.input.evtest import InputEvent, KeyScript
from kioskd.input.reader import DeviceState, InputSource, SourceConfig
from kioskd.input.xkb import Layout, UnknownLayout

__all__ = [
    "Decoder",
    "DecoderConfig",
    "DeviceInfo",
    "DeviceState",
    "InputEvent",
    "InputSource",
    "KeyScript",
    "KeyToken",
    "Layout",
    "ScanToken",
    "Selector",
    "SourceConfig",
    "Token",
    "UnknownLayout",
    "list_devices",
]
