"""The certificate authorities an https:// API is checked against, loaded only when needed.

Rules:
- `api.ca_bundle` set: that PEM file, read whole (a private CA: one or a few certificates).
- Otherwise the system's store. Debian and Raspberry Pi OS keep it twice: one file with every
  CA (`ca-certificates.crt`, ~140 certificates) and a folder of one file per CA named by the
  hash of its subject (`/etc/ssl/certs/<hash>.0`, kept by `update-ca-certificates`). Python's
  `ssl.create_default_context()` parses the whole file at once: 36 ms of CPU and 2.0 MB of
  RSS here (about 0.45 s on a Pi 3B), before READY=1, for the one or two CAs a kiosk's API
  chain needs. Given the hashed folder alone, OpenSSL reads a CA from it the first time a
  handshake asks for that subject: 3 ms and 0.8 MB, the context's own cost
  (`bench/bench_tls.py`).
  Same trust (the same files, kept by the same package), same checks (`CERT_REQUIRED`, the
  host name), only later.
- The folder is used only when it is a hashed store (a `<8 hex>.<n>` name in it) and no
  `SSL_CERT_FILE` names another file than the system's; anywhere else,
  `create_default_context()` as before, so a machine with the file alone keeps working.
Written here: httpx's default is certifi's bundle, which is read whole too.
"""

from __future__ import annotations

import os
import re
import ssl

_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.\d+")


def is_hashed_store(folder: str) -> bool:
    """Whether `folder` holds at least one CA under its subject hash (stops at the first)."""
    try:
        with os.scandir(folder) as entries:
            return any(_HASHED_NAME.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False


def system_store_folder() -> str | None:
    """The hashed folder of the system's CAs, or None where the whole file must be read."""
    paths = ssl.get_default_verify_paths()
    chosen = os.environ.get(paths.openssl_cafile_env)
    if chosen and os.path.realpath(chosen) != os.path.realpath(paths.openssl_cafile):
        return None  # an operator's own file: honour it as OpenSSL would
    folder = paths.capath
    return folder if folder and is_hashed_store(folder) else None


def client_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A client context that checks the certificate and the host name: against `ca_bundle`
    (a missing file raises here), else the system's CAs, read on demand where it can."""
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=ca_bundle)
    folder = system_store_folder()
    if folder is None:
        return ssl.create_default_context()
    return ssl.create_default_context(capath=folder)
