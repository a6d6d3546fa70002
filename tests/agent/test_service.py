"""The agent service's job loop, without a broker: what happens to bad stored jobs and slow children."""

from __future__ import annotations

import subprocess
import sys
import time

from agent.service import AgentService


def make_service(tmp_path) -> AgentService:  # type: ignore[no-untyped-def]
    # never connected: these tests drive the job loop directly
    return AgentService("mqtt://127.0.0.1:9", "dev-1", tmp_path / "state", job_key=b"k" * 32)


def test_a_stored_job_that_no_longer_decodes_is_dropped_not_retried_forever(tmp_path) -> None:  # type: ignore[no-untyped-def]
    service = make_service(tmp_path)
    service.store.add_job("old", b'{"schema_version": 0}')
    assert service._run_one() is True
    assert service.store.queued_jobs() == 0
    assert service._run_one() is False


def test_a_child_past_its_deadline_is_killed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    service = make_service(tmp_path)
    service._child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = time.monotonic()
    assert service._wait_child(0.5) is None
    assert time.monotonic() - start < 10
    assert service._child.poll() is not None


def test_sensor_minimum_windows() -> None:
    from agent.worker import idle_seconds, sampler_window_s

    class Jtop:
        nominal_rate_hz = 2.0
        min_window_s = 0.0

    class NVMLEnergy:
        nominal_rate_hz = 10.0
        min_window_s = 1.0

    assert sampler_window_s(Jtop()) == 3.0  # five periods at 2 Hz, plus 20%
    assert sampler_window_s(NVMLEnergy()) == 1.2
    assert idle_seconds(Jtop()) == 3.0


class _Msg:
    def __init__(self, topic: str, payload: bytes) -> None:
        self.topic, self.payload = topic, payload


def test_only_signed_acks_delete_results_from_the_outbox(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agent.protocol import ResultAck, ack_topic, encode
    from agent.signing import sign_ack

    service = make_service(tmp_path)
    service.store.add_job("j", b"")
    service.store.finish_job("j", "r1", b"{}")
    forged = ResultAck(["r1"])
    service._on_message(None, None, _Msg(ack_topic("dev-1"), encode(forged)))
    assert service.store.outbox_size() == 1, "an unsigned ack deleted a result"
    wrong_key = sign_ack(forged, b"x" * 32)
    service._on_message(None, None, _Msg(ack_topic("dev-1"), encode(wrong_key)))
    assert service.store.outbox_size() == 1
    service._on_message(None, None, _Msg(ack_topic("dev-1"), encode(sign_ack(forged, b"k" * 32))))
    assert service.store.outbox_size() == 0
