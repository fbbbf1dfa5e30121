"""Logging: native journal entries over a real datagram socket, stderr lines, redaction."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import socket
import struct
from pathlib import Path

import pytest

from kioskd.daemon import logs as klog


def parse_entry(data: bytes) -> dict[str, str]:
    """Decode journald's native format (the reverse of encode_entry), strictly."""
    fields: dict[str, str] = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            fields[k.decode()] = v.decode()
            i = nl + 1
        else:
            (n,) = struct.unpack("<Q", data[nl + 1 : nl + 9])
            fields[line.decode()] = data[nl + 9 : nl + 9 + n].decode()
            assert data[nl + 9 + n : nl + 10 + n] == b"\n"
            i = nl + 10 + n
    return fields


@pytest.fixture
def journal(tmp_path: Path):
    path = tmp_path / "journal.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield path, sock
    sock.close()


@pytest.fixture
def logger():
    lg = logging.getLogger("kioskd.test.logging")
    lg.propagate = False
    lg.setLevel(logging.DEBUG)
    yield lg
    for h in list(lg.handlers):
        lg.removeHandler(h)
        h.close()


def test_encode_uses_binary_form_only_for_newlines() -> None:
    data = klog.encode_entry({"A": "x=y", "B": "two\nlines", "C": 7})
    assert data == b"A=x=y\nB\n" + struct.pack("<Q", 9) + b"two\nlines\nC=7\n"
    with pytest.raises(ValueError):
        klog.encode_entry({"lower": "x"})


def test_entry_with_fields_reaches_socket(journal, logger) -> None:
    path, sock = journal
    logger.addHandler(klog.JournalHandler(str(path), static_fields={"TERMINAL_ID": "T7"}))
    logger.warning(
        "sale done for %s",
        "ticket",
        extra={"OP_ID": 12, "TICKET_NUMBER": 32426439, "MESSAGE_ID": klog.SALE_DONE},
    )
    fields = parse_entry(sock.recv(65536))
    assert fields["MESSAGE"] == "sale done for ticket"
    assert fields["PRIORITY"] == "4"
    assert fields["TERMINAL_ID"] == "T7"
    assert fields["OP_ID"] == "12"
    assert fields["TICKET_NUMBER"] == "32426439"
    assert fields["MESSAGE_ID"] == klog.SALE_DONE
    assert fields["SYSLOG_IDENTIFIER"] == "kioskd"
    assert fields["LOGGER"] == "kioskd.test.logging"


def test_traceback_is_one_entry(journal, logger) -> None:
    path, sock = journal
    logger.addHandler(klog.JournalHandler(str(path)))
    try:
        raise RuntimeError("printer exploded")
    except RuntimeError:
        logger.exception("print failed", extra={"DEVICE_ROLE": "printer"})
    fields = parse_entry(sock.recv(65536))
    assert fields["MESSAGE"].startswith("print failed\nTraceback (most recent call last):")
    assert fields["MESSAGE"].rstrip().endswith("RuntimeError: printer exploded")
    assert fields["PRIORITY"] == "3"
    assert fields["DEVICE_ROLE"] == "printer"
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(65536)  # nothing else: one entry


def test_oversized_entry_goes_through_sealed_memfd(journal, logger) -> None:
    path, sock = journal
    logger.addHandler(klog.JournalHandler(str(path)))
    big = "x" * (4 * 1024 * 1024)
    logger.info("big %s", big)
    msg, anc, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(4))
    assert msg == b""
    (level, kind, raw) = anc[0]
    assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
    fd = struct.unpack("i", raw[:4])[0]
    try:
        data = os.pread(fd, 8 * 1024 * 1024, 0)
        # journald refuses an unsealed memfd: every seal libsystemd sets must be there.
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        with pytest.raises(PermissionError):
            os.pwrite(fd, b"y", 0)  # F_SEAL_WRITE holds
    finally:
        os.close(fd)
    want = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
    assert seals & want == want, f"seals {seals:#x}, want {want:#x}"
    assert parse_entry(data)["MESSAGE"] == "big " + big


def test_redaction_of_names_values_and_registered_secrets(journal, logger) -> None:
    path, sock = journal
    logger.addHandler(klog.JournalHandler(str(path)))
    klog.register_secret("76479163")
    klog.register_secret("hunter2-password", permanent=True)
    try:
        raise ValueError("login with hunter2-password refused")
    except ValueError:
        logger.error(
            'pay ticket 32426439 pin=76479163 {"x_auth_token": "abc.def"} password: hunter2-pw',
            exc_info=True,
            extra={"PIN": "76479163", "API_PASSWORD": "x", "TICKET_NUMBER": 32426439},
        )
    raw = sock.recv(65536)
    fields = parse_entry(raw)
    assert b"76479163" not in raw
    assert b"hunter2" not in raw
    assert b"abc.def" not in raw
    assert "PIN" not in fields and "API_PASSWORD" not in fields
    assert fields["TICKET_NUMBER"] == "32426439"
    assert "pay ticket 32426439" in fields["MESSAGE"]
    assert "ValueError: login with ******** refused" in fields["MESSAGE"]


def test_secret_names() -> None:
    for name in ("PIN", "pin_number", "API_PASSWORD", "x-auth-token", "SUPERVISOR_CODE"):
        assert klog.is_secret_name(name), name
    for name in ("PRINTER_STATE", "SHIPPING", "OP_ID", "TICKET_NUMBER", "STATUS_CODE"):
        assert not klog.is_secret_name(name), name


def test_stderr_lines_carry_key_value_fields(logger) -> None:
    stream = io.StringIO()
    handler = klog.setup_logging(
        "debug", "stderr", terminal_id="T1", stream=stream, logger=logger, environ={}
    )
    assert not isinstance(handler, klog.JournalHandler)
    logger.info("printer state", extra={"PRINTER_STATE": "paper out", "DEVICE_ROLE": "printer"})
    line = stream.getvalue().strip()
    assert line.endswith(
        "INFO kioskd.test.logging: printer state TERMINAL_ID=T1 "
        'PRINTER_STATE="paper out" DEVICE_ROLE=printer'
    )


def test_auto_target_needs_matching_journal_stream(journal, logger, tmp_path: Path) -> None:
    path, _sock = journal
    with open(tmp_path / "stderr.txt", "w") as stream:
        st = os.fstat(stream.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert klog.journal_wanted(env, stream, str(path))
        assert not klog.journal_wanted({"JOURNAL_STREAM": "1:2"}, stream, str(path))
        assert not klog.journal_wanted(env, stream, str(tmp_path / "absent.sock"))
        h = klog.setup_logging(
            "info", "auto", environ=env, stream=stream, socket_path=str(path), logger=logger
        )
        assert isinstance(h, klog.JournalHandler)
        # calling again replaces the handler instead of adding a second one
        h2 = klog.setup_logging("info", "stderr", stream=stream, logger=logger, environ={})
        assert h not in logger.handlers and h2 in logger.handlers


def test_message_ids_are_distinct_uuids() -> None:
    ids = list(klog.MESSAGE_IDS.values())
    assert len(ids) >= 13 and len(set(ids)) == len(ids)
    assert {"SALE_DONE", "OP_IN_DOUBT", "PRINTER_PAPER_OUT", "CONFIG_RELOADED"} <= set(
        klog.MESSAGE_IDS
    )


def test_a_library_basicconfig_handler_is_dropped(logger) -> None:
    """python-escpos calls logging.basicConfig() at import: its plain handler would print every
    line a second time, unredacted."""
    stray = logging.StreamHandler(io.StringIO())
    stray.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    logger.addHandler(stray)
    ours = io.StringIO()
    klog.setup_logging("info", "stderr", stream=ours, logger=logger, environ={})
    klog.register_secret("hunter2-long-secret")
    logger.info("password hunter2-long-secret")
    assert stray not in logger.handlers
    assert stray.stream.getvalue() == ""
    assert "hunter2-long-secret" not in ours.getvalue()


def test_a_short_password_is_masked_as_a_value_not_as_ordinary_text() -> None:
    """The adversarial run read a short password back from where it was masked in ordinary
    text ("username@***.net", "******** login ok")."""
    r = klog.Redactor()
    r.add("banklot", permanent=True)
    assert r.redact("banklot login ok") == "banklot login ok"
    assert r.redact("user username@banklot.net") == "user username@banklot.net"
    assert r.redact("kioskd.banklot: GET /x") == "kioskd.banklot: GET /x"
    assert "banklot" not in r.redact("url https://username:banklot@api.example/x")
    assert "banklot" not in r.redact('{"email": "u@x", "pw": "banklot"}')
    assert "banklot" not in r.redact("retry with secret=banklot now")
    assert "banklot" not in r.redact("ValueError: ('username', 'banklot')")
    r.add("S3cr3t-long-passphrase", permanent=True)
    assert "S3cr3t" not in r.redact("login as xS3cr3t-long-passphrasey failed")
    r.add("12345678")  # a PIN: masked inside a scanned code too
    assert "12345678" not in r.redact("scan 000324264391234567820241023")


@pytest.mark.parametrize("level, shown", [("info", False), ("debug", True)])
def test_httpx_request_lines_only_at_debug(logger, level: str, shown: bool) -> None:
    """httpx logs every request at INFO; the client logs its own exchange line, so at info
    httpx's copy is left out (issue 19: a log line of every sale's CPU), and kept at debug."""
    import asyncio

    import httpx

    stream = io.StringIO()
    httpx_logger = logging.getLogger("httpx")
    httpx_logger.propagate = False  # to `logger`'s handler only, not the test run's root
    root, root_level = logging.getLogger(), logging.getLogger().level
    root.setLevel(level.upper())  # the daemon's root logger is the one set up
    try:
        handler = klog.setup_logging(level, "stderr", stream=stream, logger=logger, environ={})
        httpx_logger.addHandler(handler)

        async def one() -> None:
            transport = httpx.MockTransport(lambda request: httpx.Response(201))
            async with httpx.AsyncClient(transport=transport) as client:
                await client.post("http://api.test/user/ticket/create", json={})

        asyncio.run(one())
        assert ("HTTP Request: POST" in stream.getvalue()) is shown
    finally:
        httpx_logger.propagate = True
        for h in list(httpx_logger.handlers):
            httpx_logger.removeHandler(h)
        httpx_logger.setLevel(logging.NOTSET)
        root.setLevel(root_level)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain", "plain"),
        (7, "7"),
        ("", '""'),
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a=b", '"a=b"'),
        ("tab\there", '"tab\there"'),
        ("line\nnext", '"line\\nnext"'),
    ],
)
def test_stderr_fields_are_quoted_only_when_a_reader_would_misread_them(value, shown) -> None:
    """`KEY=value` on stderr: a value with a space, quote, `=`, newline or tab (or empty) is
    quoted and escaped, any other value is written bare; the record's own attributes are
    never fields."""
    stream = io.StringIO()
    logger = logging.getLogger("kioskd.test.quoting")
    handler = klog.setup_logging("info", "stderr", stream=stream, logger=logger)
    try:
        logger.info("hello", extra={"OP_KIND": value, "lowercase": "never a field"})
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue().rstrip("\n")
    assert line.endswith(f"hello OP_KIND={shown}"), line


def test_the_redactor_masks_the_longest_secret_first_and_keeps_a_bounded_recent_set() -> None:
    """`redact` reads the values `add` sorted (longest first, made again at each add): a secret
    holding a shorter one is masked whole, and the most recent `max_values` values are kept
    (the permanent ones always)."""
    r = klog.Redactor(max_values=2)
    r.add("1234")
    r.add("98761234550")  # holds "1234": longest first, or "9876" and "550" would show
    assert r.redact("pin=x code 98761234550 end") == "pin=******** code ******** end"
    r.add("hunter2-long-secret", permanent=True)
    r.add("55556666")
    r.add("77778888")  # the recent set holds two: "1234" and "98761234550" left it
    text = r.redact("a 98761234550 b 55556666 c 77778888 d hunter2-long-secret")
    assert text == "a 98761234550 b ******** c ******** d ********"
