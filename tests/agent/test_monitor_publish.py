"""``monitor --broker`` (agent/monitor_publish.py, agent/protocol/monitor.py): the signed envelope, the
checks of the summary it carries, and a summary that is never lost when the broker does not take it
(refused connection, a listener that never answers, a broker that never acknowledges)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app as agent_app
from agent.errors import ProtocolError
from agent.monitor_publish import MonitorPublisher, PublishError, default_out_path, monitor_message
from agent.protocol import MonitorSummary, decode, device_id_from_topic, encode, monitor_topic
from agent.signing import create_private_key, decode_verified, verify

SUMMARY = {"utilisation": 0.25, "window_s": 60.0, "samples": 60, "source": "/proc/stat", "cpu": {"cpus": 2}}


def test_the_monitor_topic_sits_with_the_other_device_topics() -> None:
    assert monitor_topic("dev-a") == "edgeprof/v1/devices/dev-a/monitor"
    assert device_id_from_topic(monitor_topic("dev-a")) == "dev-a"
    with pytest.raises(ProtocolError, match="device id"):
        monitor_topic("dev/a")


def test_the_envelope_is_signed_like_a_result_and_verifies_only_with_the_devices_key(tmp_path: Path) -> None:
    key = create_private_key(tmp_path / "device.key")
    other = create_private_key(tmp_path / "other.key")
    message = monitor_message(dict(SUMMARY), "dev-a", key)
    assert message.signature and message.device_id == "dev-a" and message.summary == SUMMARY
    assert abs(message.ts - time.time()) < 5
    payload = encode(message)
    assert decode_verified(MonitorSummary, payload, key.public, "summary").summary == SUMMARY
    verify(decode(MonitorSummary, payload), key.public, "summary")
    with pytest.raises(ProtocolError, match="bad signature"):
        decode_verified(MonitorSummary, payload, other.public, "summary")
    tampered = payload.replace(b'"utilisation":0.25', b'"utilisation":0.05')
    assert tampered != payload
    with pytest.raises(ProtocolError, match="bad signature"):
        decode_verified(MonitorSummary, tampered, key.public, "summary")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"utilisation": 1.5}, "'utilisation' must be the busy fraction in 0..1"),
        ({"utilisation": "0.2"}, "'utilisation'"),
        ({"utilisation": True}, "'utilisation'"),
        ({"window_s": 0}, "'window_s' must be a number of seconds > 0"),
        ({"window_s": None}, "'window_s'"),
        ({"samples": 0}, "'samples' must be an integer >= 1"),
        ({"samples": True}, "'samples'"),
        ({"source": 3}, "'source' must be a string"),
    ],
)
def test_a_summary_the_cost_model_cannot_use_is_refused_when_the_message_is_built(change: dict, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        MonitorSummary("dev-a", time.time(), dict(SUMMARY, **change))


def test_a_message_whose_summary_is_not_an_object_or_lacks_fields_does_not_decode() -> None:
    good = json.loads(encode(MonitorSummary("dev-a", 1.0, dict(SUMMARY))))
    for summary in ([0.2], {"window_s": 1.0}):
        with pytest.raises(ProtocolError, match="expected an object|monitor summary.s .utilisation."):
            decode(MonitorSummary, json.dumps(dict(good, summary=summary)))
    with pytest.raises(ProtocolError, match="missing required field 'summary'"):
        decode(MonitorSummary, json.dumps({k: v for k, v in good.items() if k != "summary"}))


def test_bad_options_are_refused_before_the_window_not_after(tmp_path: Path) -> None:
    start = time.monotonic()
    result = CliRunner().invoke(
        agent_app, ["monitor", "--duration", "10m", "--broker", "mqtt://127.0.0.1:1", "--state-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "device.key does not exist" in result.output and "keygen" in result.output
    assert time.monotonic() - start < 30 and not list(tmp_path.iterdir())
    create_private_key(tmp_path / "device.key")
    for extra, match in (
        (["--broker-ca", str(tmp_path / "nope.crt")], "--broker-ca .*: no such file"),
        (["--device-id", "a/b"], "device id 'a/b' is not valid"),
        (["--publish-timeout", "0"], "--publish-timeout"),
    ):
        args = ["monitor", "--duration", "10m", "--broker", "mqtt://127.0.0.1:1", "--state-dir", str(tmp_path)]
        result = CliRunner().invoke(agent_app, args + extra)
        assert result.exit_code == 2 and re.search(match, result.output), result.output


@pytest.fixture()
def device_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    create_private_key(tmp_path / "state" / "device.key")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def _monitor(device_dir: Path, broker: str, *extra: str) -> object:
    args = ["monitor", "--duration", "0.4s", "--interval", "200ms", "--broker", broker, "--device-id", "dev-a"]
    return CliRunner().invoke(agent_app, args + ["--state-dir", str(device_dir / "state"), *extra])


def test_an_unreachable_broker_leaves_the_summary_in_a_named_file_here_and_exits_1(device_dir: Path) -> None:
    from pipeline.broker import free_port

    result = _monitor(device_dir, f"mqtt://127.0.0.1:{free_port()}")
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    (kept,) = list((device_dir / "cwd").glob("edgeprof-monitor-dev-a-*.json"))
    output = result.output  # type: ignore[attr-defined]
    assert "not published: cannot reach the MQTT broker" in output and f"kept in {kept.name}" in output
    assert "--monitor-summary FILE" in output
    summary = json.loads(kept.read_text())
    assert 0 <= summary["utilisation"] <= 1 and summary["samples"] == 2


def test_with_out_the_summary_is_written_there_before_publishing_and_stays(device_dir: Path) -> None:
    from pipeline.broker import free_port

    out = device_dir / "summary.json"
    result = _monitor(device_dir, f"mqtt://127.0.0.1:{free_port()}", "--out", str(out))
    assert result.exit_code == 1 and f"kept in {out}" in result.output  # type: ignore[attr-defined]
    assert json.loads(out.read_text())["samples"] == 2
    assert not list((device_dir / "cwd").iterdir())


@pytest.fixture()
def fake_broker() -> Iterator[tuple[str, list]]:
    """A TCP listener that speaks just enough MQTT: each connection's mode is taken from ``modes``
    (``silent``: never answers; ``no-puback``: CONNACKs, then ignores the publish)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    modes: list[str] = []
    conns: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conns.append(conn)
            if modes and modes[0] == "no-puback":
                conn.recv(4096)  # the CONNECT
                conn.sendall(bytes([0x20, 0x02, 0x00, 0x00]))  # CONNACK, accepted

    threading.Thread(target=serve, daemon=True).start()
    yield f"mqtt://127.0.0.1:{server.getsockname()[1]}", modes
    server.close()
    for conn in conns:
        conn.close()


@pytest.mark.parametrize(("mode", "match"), [("silent", "did not answer"), ("no-puback", "did not acknowledge")])
def test_a_broker_that_does_not_answer_or_acknowledge_times_out(
    device_dir: Path, fake_broker: tuple[str, list], mode: str, match: str
) -> None:
    url, modes = fake_broker
    modes.append(mode)
    start = time.monotonic()
    result = _monitor(device_dir, url, "--publish-timeout", "1")
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1 and match in output and "--publish-timeout" in output, output  # type: ignore[attr-defined]
    assert time.monotonic() - start < 20
    assert len(list((device_dir / "cwd").glob("edgeprof-monitor-dev-a-*.json"))) == 1


def test_the_publisher_has_a_client_id_of_its_own_not_the_services(tmp_path: Path) -> None:
    key = create_private_key(tmp_path / "device.key")
    publisher = MonitorPublisher("mqtt://u:secret@127.0.0.1:1883", "dev-a", key)
    assert publisher.client_id().startswith("edgeprof-monitor-dev-a-")
    assert key.derive("mqtt-client-id")[:12] not in publisher.client_id()
    assert publisher.where == "127.0.0.1:1883"  # what messages show: never the URL's password
    with pytest.raises(PublishError):
        MonitorPublisher("mqtt://127.0.0.1:1", "dev-a", key, timeout_s=1).publish(dict(SUMMARY))


def test_the_default_file_is_named_by_device_and_utc_time() -> None:
    assert default_out_path("dev-a", 0.0) == Path("edgeprof-monitor-dev-a-19700101T000000Z.json")
