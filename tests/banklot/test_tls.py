"""TLS over a real loopback socket: verification is on by default (an unknown certificate is a
failure before the request is written: NotSent), and `ca_bundle` makes a private CA trusted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kioskd.banklot import errors as e
from kioskd.banklot.client import BanklotClient

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs the openssl tool to make a test certificate"
)


@pytest.fixture
async def tls_server(cert: tuple[Path, Path]) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A minimal HTTPS server answering every request with a login envelope."""
    requests: list[bytes] = []
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    body = json.dumps({"status": 200, "response": {"x_auth_token": "t"}}).encode()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            requests.append(head + await reader.readexactly(length))
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (ssl.SSLError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"https://127.0.0.1:{port}", requests


async def test_unknown_certificate_is_not_sent(tls_server: tuple[str, list[bytes]]) -> None:
    url, requests = tls_server
    async with BanklotClient(url, "a@b", "pw-Secret", connect_timeout=2, read_timeout=2) as c:
        with pytest.raises(e.NotSent):
            await c.login()
    assert requests == []  # nothing was written


async def test_ca_bundle_makes_it_trusted(
    tls_server: tuple[str, list[bytes]], cert: tuple[Path, Path]
) -> None:
    url, requests = tls_server
    async with BanklotClient(url, "a@b", "pw-Secret", ca_bundle=str(cert[0])) as c:
        await c.login()
        assert c.logged_in
    assert len(requests) == 1 and requests[0].startswith(b"POST /auth/login ")


async def test_tls_failures_are_named(
    tls_server: tuple[str, list[bytes]], cert: tuple[Path, Path]
) -> None:
    """A self-signed certificate is a certificate error, a wrong host a name mismatch, and
    doctor says so instead of "cannot reach ... check network/DNS/firewall"."""
    from kioskd.doctor.checks import judge_api_error

    url, _requests = tls_server
    async with BanklotClient(url, "a@b", "pw-Secret", connect_timeout=2, read_timeout=2) as c:
        with pytest.raises(e.NotSent, match="TLS certificate error") as refused:
            await c.login()
    finding = judge_api_error(url, refused.value, "login")
    assert finding.detail.startswith("TLS failure") and "certificate" in finding.hint
    wrong_host = url.replace("127.0.0.1", "localhost")  # the certificate names 127.0.0.1 only
    async with BanklotClient(wrong_host, "a@b", "pw-Secret", ca_bundle=str(cert[0])) as c:
        with pytest.raises(e.NotSent, match="TLS certificate name mismatch"):
            await c.login()


@pytest.fixture(scope="module")
def expired_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 whose validity ended a day ago (`-days -1`)."""
    d = tmp_path_factory.mktemp("tls-expired")
    crt, key, csr, ext = d / "cert.pem", d / "key.pem", d / "req.csr", d / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(csr), "-subj", "/CN=127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(csr), "-signkey", str(key), "-days", "-1",
         "-extfile", str(ext), "-out", str(crt)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return crt, key


async def test_an_expired_certificate_is_named_expired(expired_cert: tuple[Path, Path]) -> None:
    """Even when its issuer is trusted, an expired certificate is refused before any byte of
    the request is written, named "certificate expired", and doctor says it is TLS."""
    from kioskd.doctor.checks import judge_api_error

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(expired_cert[0]), str(expired_cert[1]))
    written: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ssl.SSLError, asyncio.IncompleteReadError, ConnectionError):
            written.append(await reader.read(1024))
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server, BanklotClient(
        url, "a@b", "pw-Secret", ca_bundle=str(expired_cert[0]), connect_timeout=2
    ) as c:
        with pytest.raises(e.NotSent, match="certificate expired") as refused:
            await c.login()
    assert not any(written)
    finding = judge_api_error(url, refused.value, "login")
    assert finding.detail.startswith("TLS failure") and "expired" in finding.detail


@pytest.fixture
def hashed_store(cert: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A system store made as `update-ca-certificates` makes it: the test certificate under
    its subject hash, and OpenSSL pointed at that folder (`SSL_CERT_DIR`)."""
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(cert[0])],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    folder = tmp_path / "certs"
    folder.mkdir()
    shutil.copy(cert[0], folder / f"{subject_hash}.0")
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    return folder


async def test_the_system_store_is_read_when_a_handshake_needs_it(
    tls_server: tuple[str, list[bytes]], hashed_store: Path
) -> None:
    """No CA is parsed at construction (the whole file costs 36 ms and 2 MB at start); the
    one the server's chain names is read at the handshake, and then it is trusted."""
    url, requests = tls_server
    async with BanklotClient(url, "a@b", "pw-Secret", connect_timeout=2, read_timeout=2) as c:
        assert isinstance(c._tls, ssl.SSLContext)
        assert c._tls.cert_store_stats()["x509_ca"] == 0
        await c.login()
        assert c.logged_in
        assert c._tls.cert_store_stats()["x509_ca"] == 1
    assert len(requests) == 1


async def test_the_on_demand_store_still_refuses_an_issuer_it_lacks(
    tls_server: tuple[str, list[bytes]], hashed_store: Path
) -> None:
    for entry in hashed_store.iterdir():
        entry.rename(hashed_store / "00000000.0")  # a hashed name, not this issuer's
    url, requests = tls_server
    async with BanklotClient(url, "a@b", "pw-Secret", connect_timeout=2, read_timeout=2) as c:
        with pytest.raises(e.NotSent, match="TLS certificate error"):
            await c.login()
    assert requests == []


def test_a_store_that_is_not_hashed_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder without hashed names, or an operator's `SSL_CERT_FILE`: the whole file, as
    `ssl.create_default_context()` reads it (the machine keeps working as before)."""
    from kioskd.banklot import trust

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    (tmp_path / "README").write_text("not a CA\n")
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    assert trust.system_store_folder() is None
    whole = ssl.create_default_context().cert_store_stats()["x509_ca"]
    if whole == 0:
        pytest.skip("this machine has no system CA file to compare with")
    assert trust.client_context().cert_store_stats()["x509_ca"] == whole
    hashed = tmp_path / "certs"
    hashed.mkdir()
    (hashed / "0123abcd.0").write_text("")
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed))
    assert trust.system_store_folder() == str(hashed)
    monkeypatch.setenv("SSL_CERT_FILE", ssl.get_default_verify_paths().openssl_cafile)
    assert trust.system_store_folder() == str(hashed)  # the system's own file: same store
    own = tmp_path / "operator.pem"
    own.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(own))
    assert trust.system_store_folder() is None
