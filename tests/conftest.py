"""Shared fixtures: real brokers on loopback (embedded amqtt, Mosquitto), the external eval model."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = REPO.parent / "shared" / "eval"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``openvino`` skip, saying how to install it, where the openvino package is absent."""
    if importlib.util.find_spec("openvino") is not None:
        return
    skip = pytest.mark.skip(
        reason="openvino is not installed: .venv/bin/pip install openvino nncf (the agent: edgeprof[agent-openvino])"
    )
    for item in items:
        if item.get_closest_marker("openvino") is not None:
            item.add_marker(skip)


def _wait_port(host: str, port: int, timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class MosquittoProcess:
    """A private Mosquitto on a free loopback port, started and stopped by the test."""

    def __init__(self, workdir: Path) -> None:
        from pipeline.broker import free_port

        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o777)  # mosquitto drops to its own user when started as root
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {workdir}/\nlog_dest stderr\n"
        )
        os.chmod(self.conf, 0o644)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> MosquittoProcess:
        with open(self.workdir / "mosquitto.log", "ab") as log:
            self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=log, stderr=log)
        if not _wait_port("127.0.0.1", self.port):
            self.stop()
            raise RuntimeError(f"mosquitto did not start; see {self.workdir / 'mosquitto.log'}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture()
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run installs it)")
    broker = MosquittoProcess(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


@pytest.fixture()
def ci_mosquitto_url() -> str:
    """The Mosquitto that .ci/run starts, or a skip saying how to get one."""
    url = os.environ.get("EDGEPROF_TEST_MOSQUITTO")
    if not url:
        pytest.skip("EDGEPROF_TEST_MOSQUITTO is not set (.ci/run starts Mosquitto and sets it)")
    return url


@pytest.fixture()
def embedded_broker() -> Iterator[str]:
    from pipeline.broker import EmbeddedBroker

    broker = EmbeddedBroker().start()
    yield broker.url
    broker.stop()


@pytest.fixture()
def mnist_dir() -> Path:
    path = SHARED_EVAL / "mnist-cnn"
    if not (path / "mnist-cnn.onnx").exists():
        pytest.skip(f"external eval model not found at {path}")
    return path
