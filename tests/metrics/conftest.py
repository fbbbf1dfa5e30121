"""Real Prometheus parts for the metrics tests: `prometheus-node-exporter` and `promtool`
(Debian packages `prometheus-node-exporter` and `prometheus`, installed by `./dev.sh setup`).
A test that needs one skips, naming the package, only when its binary is missing."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
PROMTOOL = shutil.which("promtool")


def need_promtool() -> str:
    if PROMTOOL is None:
        pytest.skip("promtool not installed (Debian package `prometheus`; ./dev.sh setup)")
    return PROMTOOL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeExporter:
    """A real node-exporter on loopback serving only its textfile collector."""

    def __init__(self, textfile_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(NODE_EXPORTER),
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--collector.disable-defaults",
                    "--collector.textfile",
                    f"--collector.textfile.directory={textfile_dir}",
                ],
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 20
        while True:
            try:
                self.scrape_text()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"node-exporter did not come up; see {log}") from None
                time.sleep(0.05)

    def scrape_text(self) -> str:
        with urllib.request.urlopen(self.url, timeout=5) as r:
            return r.read().decode()

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample as {(name, sorted labels): value}."""
        out = {}
        for family in text_string_to_metric_families(self.scrape_text()):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def node_exporter(tmp_path: Path) -> Iterator[Callable[[Path], NodeExporter]]:
    if NODE_EXPORTER is None:
        pytest.skip(
            "prometheus-node-exporter not installed (Debian package of that name; ./dev.sh setup)"
        )
    started: list[NodeExporter] = []

    def start(textfile_dir: Path) -> NodeExporter:
        ne = NodeExporter(textfile_dir, tmp_path / "node-exporter.log")
        started.append(ne)
        return ne

    yield start
    for ne in started:
        with contextlib.suppress(Exception):
            ne.close()


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))
