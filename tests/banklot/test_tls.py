"""TLS over a real loopback socket: verification is on by default (an unknown certificate is a
failure before the request is written: NotSent), and `ca_bundle` makes a private CA trusted."""

from __future__ import annotations

import asyncio
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


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(crt), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return crt, key


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
